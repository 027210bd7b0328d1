require ["relational", "comparator-i;ascii-numeric", "body", "fileinto"];
if header :value "ge" :comparator "i;ascii-numeric" "X-Spam-Score" "5" {
    fileinto "Junk";
    stop;
}
if anyof (header :count "gt" :comparator "i;ascii-numeric" "received" "3",
          body :content "text" :contains "anvil",
          body :raw :matches "*cafe*") {
    discard;
}
