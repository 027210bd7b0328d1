if header :is "from" "x" { keep; }
else { discard; }
elsif true { stop; }
fileinto "x";