require ["duplicate", "fileinto", "variables"];
if duplicate { discard; stop; }
if duplicate :header "List-Id" :handle "lists" :seconds 3600 :last { fileinto "dup-list"; }
if header :matches "subject" "*" {
  if duplicate :uniqueid "${1}" :seconds 99999999999 { fileinto "same-subject"; }
}
