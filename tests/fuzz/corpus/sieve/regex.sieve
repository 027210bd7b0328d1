require ["regex", "variables", "fileinto", "body", "imap4flags"];
if header :regex "subject" "^(Re|Fwd): *(.*)$" { fileinto "threads/${2}"; }
if address :regex :comparator "i;octet" "from" "^[a-z]+@desert\\.example\\.org$" { addflag "$Coyote"; }
set "p" "(a|b)+";
if body :regex "${p}c" { fileinto "abc"; }
if string :regex "x${p}" "(((a{2}){2}){2})" { keep; }
