require ["nonesuch"];
/* unterminated comment
