require "vacation";
vacation :subject "a                                                                                                    b" "away";
