require ["date", "relational", "ereject"];
if date :value "lt" :originalzone "date" "year" "2000" {
    ereject "Too old";
}
if currentdate :zone "+0100" :is "weekday" ["0", "6"] { stop; }
if not exists ["Date", "Message-ID"] { ereject "no date"; }
