// Helpers for the delivery tests: a temporary node directory with an
// imapd.conf and an open Store. Not thread-safe; one per test.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "store/config/imapd_conf.h"
#include "store/store.h"

namespace cyr::lmtpd::testing {

class TempNode {
 public:
  explicit TempNode(const std::string& extra_conf = "") {
    std::string tmpl = "/tmp/cyr_delivery_test.XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    text_ = "configdirectory: " + (dir_ / "conf").string() + "\npartition-default: " +
            (dir_ / "spool").string() + "\n" + extra_conf;
    auto c = config::ImapdConf::parse(text_, "imapd.conf", nullptr);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().describe());
    conf_ = std::make_shared<config::ImapdConf>(std::move(*c));
    store::StoreOptions o;
    o.configdirectory = dir_ / "conf";
    o.partitions["default"] = dir_ / "spool";
    auto s = store::Store::open(o);
    EXPECT_TRUE(s.ok());
    store_ = std::shared_ptr<store::Store>(std::move(*s));
  }
  ~TempNode() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::filesystem::path& dir() const { return dir_; }
  std::shared_ptr<const config::ImapdConf> conf() const { return conf_; }
  store::Store& store() { return *store_; }
  std::shared_ptr<store::Store> store_ptr() { return store_; }

  void create(const std::string& name, const std::string& acl = "") {
    store::CreateMailboxRequest r;
    r.name = name;
    if (!acl.empty()) r.acl = acl;
    auto m = store_->create_mailbox(r);
    ASSERT_TRUE(m.ok()) << m.error().describe();
  }
  uint32_t exists(const std::string& name) {
    auto i = store_->lookup(name);
    return i.ok() ? i->exists : 0;
  }
  std::string write_file(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::filesystem::path dir_;
  std::string text_;
  std::shared_ptr<config::ImapdConf> conf_;
  std::shared_ptr<store::Store> store_;
};

}  // namespace cyr::lmtpd::testing
