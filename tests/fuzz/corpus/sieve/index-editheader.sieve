require ["index", "editheader", "date", "variables", "fileinto", "regex"];
if header :index 1 :last :matches "received" "*from *" { set "hop" "${2}"; }
addheader "X-First-Hop" "${hop}";
addheader :last "X-Note" "caf\u00e9 ${hop} with a value long enough to need folding somewhere along the way, surely";
deleteheader :index 1 :regex "x-spam" "^(yes|maybe)$";
deleteheader "subject";
addheader "Subject" "[filtered] ${hop}";
if date :index 2 :originalzone "received" "year" "1997" { fileinto "old"; }
if exists "x-first-hop" { keep; }
