require "vacation";
vacation :from "x
Bcc: v@example.org <rr@acme.example.com>" "away";
