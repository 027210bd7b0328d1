require ["encoded-character", "fileinto"];
if header :contains "subject" "${unicode:00e9}${hex:63 61}" {
    fileinto "${hex:49 4e 42 4f 58}";
}
fileinto "inbox";
keep;
