# RFC 5228 9: the example script
require ["fileinto", "reject"];
if header :is "Sender" "owner-ietf-mta-filters@imc.org" {
    fileinto "filter";
} elsif address :DOMAIN :is ["From", "To"] "example.com" {
    keep;
} elsif anyof (NOT address :all :contains ["To", "Cc", "Bcc"] "me@example.com",
               header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"]) {
    reject "Go away";
} else {
    fileinto "personal";
}
