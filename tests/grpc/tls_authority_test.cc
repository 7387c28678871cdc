// TLS to pods: the certificate is issued for the Service's DNS name, the channel dials pod IPs,
// and the per-endpoint authority / SNI override makes verification succeed (kuberesolver #23/#25).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_pods.h"

namespace k8slb::testing {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TlsAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("k8slb-grpc-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    // A self-signed certificate for the Service name only (no IP SANs), as a cluster CA would
    // issue for "echo.default.svc".
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=echo.default.svc "
                      "-addext subjectAltName=DNS:echo.default.svc -keyout " +
                      (dir_ / "key.pem").string() + " -out " + (dir_ / "cert.pem").string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl is not available to make a test certificate";
    cert_ = ReadFile(dir_ / "cert.pem");
    key_ = ReadFile(dir_ / "key.pem");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<echo::EchoServer> StartTlsPod() {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key_, cert_});
    echo::EchoServerOptions o;
    o.listen = "127.0.1.71:0";
    o.pod_name = "tls-pod";
    o.credentials = grpc::SslServerCredentials(ssl);
    auto server = echo::EchoServer::Start(o);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  grpc::Status Call(std::optional<std::string> authority) {
    auto pod = StartTlsPod();
    if (pod == nullptr) return grpc::Status(grpc::StatusCode::INTERNAL, "no pod");
    auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
    source->SetEndpoints({EndpointOf(*pod)});
    BalancedChannelOptions options = TestOptions();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = cert_;
    options.credentials = grpc::SslCredentials(ssl);
    options.authority = authority;
    auto channel = BalancedChannel::Create(source, options);
    EXPECT_TRUE(channel.ok());
    EchoClient client(*channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(3000));
    echo::EchoRequest req;
    echo::EchoResponse resp;
    grpc::Status s = client->Echo(&ctx, req, &resp);
    if (s.ok()) {
      EXPECT_EQ(resp.pod_name(), "tls-pod");
    }
    return s;
  }

  std::filesystem::path dir_;
  std::string cert_;
  std::string key_;
};

TEST_F(TlsAuthorityTest, ServiceNameAuthorityVerifiesACertificateForTheService) {
  grpc::Status s = Call("echo.default.svc");
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TlsAuthorityTest, WithoutTheOverrideThePodIpDoesNotMatchTheCertificate) {
  // Control: proves the test above passes because of the override, not in spite of TLS.
  grpc::Status s = Call(std::string());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

}  // namespace
}  // namespace k8slb::testing
