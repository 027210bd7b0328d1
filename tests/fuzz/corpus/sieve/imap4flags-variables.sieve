require ["imap4flags", "variables", "fileinto", "mailbox"];
setflag "\\seen";
addflag "tmp" ["$Label1", "\\Flagged", "bad(flag", "\\Bogus"];
if header :matches "Subject" "* a *" {
    set :upperfirst "sub" "${2}";
    fileinto :create :flags "${sub} ${tmp}" "Lists.${1}";
}
removeflag "\\Seen";
if hasflag :contains "tmp" "Label" { keep :flags "\\Answered"; }
