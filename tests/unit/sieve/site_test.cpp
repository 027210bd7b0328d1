// site_extensions(): what imapd.conf sieve_extensions lets scripts require.
#include <gtest/gtest.h>

#include "server/sieve/sieve.h"

namespace cyr::sieve {
namespace {

TEST(Extensions, SiteListGatesOnlyWhatItNames) {
  std::vector<std::string> implemented = {"comparator-i;ascii-numeric", "copy", "ereject", "fileinto",
                                          "imap4flags", "reject", "vacation", "vnd.cyrus.log"};
  std::vector<std::string> switchable = {"fileinto", "reject", "vacation", "imapflags", "imap4flags",
                                         "copy", "x-cyrus-log", "vnd.cyrus.log"};
  EXPECT_EQ(site_extensions(implemented, switchable, {"fileinto", "vacation"}),
            (std::vector<std::string>{"comparator-i;ascii-numeric", "fileinto", "vacation"}));
  EXPECT_EQ(site_extensions(implemented, switchable, {"REJECT", "imapflags", "x-cyrus-log"}),
            (std::vector<std::string>{"comparator-i;ascii-numeric", "ereject", "imap4flags", "reject",
                                      "vnd.cyrus.log"}));
  // Names the site lists but this build lacks are not advertised.
  EXPECT_EQ(site_extensions({"fileinto"}, switchable, {"fileinto", "copy"}),
            (std::vector<std::string>{"fileinto"}));
}

}  // namespace
}  // namespace cyr::sieve
