require ["envelope", "subaddress", "copy", "fileinto"];
if envelope :detail "to" "home" {
    redirect :copy "wile@example.org";
    fileinto :copy "Home";
}
if address :user :is "from" "coyote" { redirect "boss@acme.example.com"; }
if size :over 100K { discard; }
