redirect "a@example.org"; redirect "A@example.org"; redirect "b@example.org";
redirect "c@example.org"; discard; discard;
