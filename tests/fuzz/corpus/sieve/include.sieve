require ["include", "variables", "fileinto"];
global ["folder", "level"];
set "global.level" "1";
include :optional "rules";
include :global :once :optional "site";
if string "${folder}" "" { return; }
fileinto "${folder}";
