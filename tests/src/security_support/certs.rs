//! A certificate authority of the test's own, made with `openssl` in a scratch directory: the CA
//! a managed service's private CA stands for, a server certificate it signed for `127.0.0.1` and
//! `localhost`, and an unrelated CA (the "wrong" one a misconfigured client would trust).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The scratch directory and the files in it; removed when dropped.
#[derive(Debug)]
pub struct TestCertificates {
    pub dir: PathBuf,
    /// The CA that signed `server_cert`.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
}

impl TestCertificates {
    /// Generates the lot. Panics with openssl's own message when it fails (it is installed
    /// wherever RabbitMQ and PostgreSQL are).
    pub fn generate() -> TestCertificates {
        let dir =
            std::env::temp_dir().join(format!("fulfillment-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the certificates' directory");
        let ca = dir.join("ca.pem");
        let ca_key = dir.join("ca.key");
        self_signed_ca(&ca, &ca_key, "fulfillment test CA");
        let other_ca = dir.join("other-ca.pem");
        self_signed_ca(&other_ca, &dir.join("other-ca.key"), "some other CA");
        let server_key = dir.join("server.key");
        let request = dir.join("server.csr");
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            path(&server_key),
            "-out",
            path(&request),
            "-subj",
            "/CN=localhost",
        ]);
        let extensions = dir.join("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
             extendedKeyUsage = serverAuth\n",
        )
        .expect("write the extensions");
        let server_cert = dir.join("server.pem");
        openssl(&[
            "x509",
            "-req",
            "-in",
            path(&request),
            "-CA",
            path(&ca),
            "-CAkey",
            path(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            path(&extensions),
            "-out",
            path(&server_cert),
        ]);
        TestCertificates {
            dir,
            ca,
            server_cert,
            server_key,
            other_ca,
        }
    }
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn self_signed_ca(cert: &Path, key: &Path, name: &str) {
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        path(key),
        "-out",
        path(cert),
        "-days",
        "2",
        "-subj",
        &format!("/CN={name}"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
}

pub fn path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (apt-get install openssl): {e}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
