package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// pki holds the files the control plane needs: a CA, a serving certificate for
// kube-apiserver signed by it, the service-account key pair and the static
// token file.
type pki struct {
	caPEM            []byte
	caPath           string
	servingCert      string
	servingKey       string
	saPrivateKey     string
	saPublicKey      string
	tokenFile        string
	tokens           map[string]string // user name -> bearer token
	adminUser        string
	adminBearerToken string
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
}

// newPKI writes everything into dir. users are added to the token file next to
// the admin user (group system:masters).
func newPKI(dir string, users []User) (*pki, error) {
	p := &pki{
		caPath:       filepath.Join(dir, "ca.crt"),
		servingCert:  filepath.Join(dir, "apiserver.crt"),
		servingKey:   filepath.Join(dir, "apiserver.key"),
		saPrivateKey: filepath.Join(dir, "sa.key"),
		saPublicKey:  filepath.Join(dir, "sa.pub"),
		tokenFile:    filepath.Join(dir, "tokens.csv"),
		tokens:       map[string]string{},
		adminUser:    AdminUser,
	}
	now := time.Now()

	// CA and serving certificate: ECDSA, cheap to generate.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "rds-csi-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(p.caPath, p.caPEM, 0o600); err != nil {
		return nil, err
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if sn, err = serial(); err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.servingCert, "CERTIFICATE", srvDER); err != nil {
		return nil, err
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.servingKey, "PRIVATE KEY", srvKeyDER); err != nil {
		return nil, err
	}

	// Service-account signing key pair (RSA, as on real clusters).
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.saPrivateKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.saPublicKey, "PUBLIC KEY", saPubDER); err != nil {
		return nil, err
	}

	// Static tokens: token,user,uid,"group1,group2"
	all := append([]User{{Name: AdminUser, Groups: []string{"system:masters"}}}, users...)
	var csv strings.Builder
	for i, u := range all {
		if u.Name == "" {
			return nil, fmt.Errorf("user %d has no name", i)
		}
		if _, dup := p.tokens[u.Name]; dup {
			return nil, fmt.Errorf("user %q listed twice", u.Name)
		}
		for _, g := range u.Groups {
			if strings.ContainsAny(g, ",\"\n") {
				return nil, fmt.Errorf("user %q: invalid group %q", u.Name, g)
			}
		}
		tok, err := randomToken()
		if err != nil {
			return nil, err
		}
		p.tokens[u.Name] = tok
		fmt.Fprintf(&csv, "%s,%s,uid-%d", tok, u.Name, i)
		if len(u.Groups) > 0 {
			fmt.Fprintf(&csv, ",\"%s\"", strings.Join(u.Groups, ","))
		}
		csv.WriteString("\n")
	}
	if err := os.WriteFile(p.tokenFile, []byte(csv.String()), 0o600); err != nil {
		return nil, err
	}
	p.adminBearerToken = p.tokens[AdminUser]
	return p, nil
}
