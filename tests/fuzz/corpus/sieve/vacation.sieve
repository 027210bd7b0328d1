require ["vacation", "vacation-seconds"];
if header :contains "subject" "present" {
    vacation :seconds 3600 :subject "Away" :from "Road Runner <rr@acme.example.com>"
      :addresses ["roadrunner@acme.example.com"] :handle "h1" text:
I'm out -- call me at +1 304 555 0123
..and this line had a dot
.
;
} else {
    vacation :days 3 "café";
}
