require "fileinto";
if true {
  fileinto "x"
}
