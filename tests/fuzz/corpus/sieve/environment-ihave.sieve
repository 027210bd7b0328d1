require ["environment", "ihave", "variables", "relational"];
if environment :matches "host" "*.example.*" { set "h" "${1}"; }
if environment :count "ge" "location" "1" { keep; }
if ihave "x-frobnicate" {
  frobnicate :now ["a", "b"] 10K;
  if frob_test (a, b(c)) { frob; } else { frob2 :x; }
} elsif ihave ["fileinto", "copy"] {
  fileinto :copy "known";
} else {
  error "nothing available: ${h}";
}
