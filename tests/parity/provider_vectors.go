// Expected values for kvfs's parity tests, computed by the same Go standard-library calls the Azure
// provider and the Secrets Store CSI driver make (not run by CI; the JSON it prints is committed):
//
//	objectEncoding base64  base64.StdEncoding.DecodeString   (provider.go, getContentBytes)
//	objectEncoding hex     hex.DecodeString                  (provider.go, getContentBytes)
//	.crt/.key files        pem.Decode, then pem.EncodeToMemory of each block (provider.go, splitCertAndKey)
//
// Regenerate with:  go run tests/parity/provider_vectors.go > tests/parity/provider_vectors.json
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/rand"
	"os"
	"runtime"
	"strings"
)

type decoded struct {
	Input string `json:"input"`
	OK    bool   `json:"ok"`
	Hex   string `json:"hex,omitempty"`
}

type block struct {
	Type    string `json:"type"`
	Encoded string `json:"encoded"`
}

type pemCase struct {
	Input  string  `json:"input"`
	Blocks []block `json:"blocks"`
}

type vectors struct {
	Go     string    `json:"go"`
	Base64 []decoded `json:"base64"`
	Hex    []decoded `json:"hex"`
	PEM    []pemCase `json:"pem"`
}

func decode(input string, f func(string) ([]byte, error)) decoded {
	out, err := f(input)
	if err != nil {
		return decoded{Input: input}
	}
	return decoded{Input: input, OK: true, Hex: hex.EncodeToString(out)}
}

func blocks(input string) pemCase {
	c := pemCase{Input: input, Blocks: []block{}}
	data := []byte(input)
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			return c
		}
		c.Blocks = append(c.Blocks, block{Type: b.Type, Encoded: string(pem.EncodeToMemory(b))})
		data = rest
	}
}

// mutate inserts, deletes or replaces a few characters, drawing new ones from alphabet.
func mutate(r *rand.Rand, s string, alphabet string, edits int) string {
	b := []byte(s)
	for i := 0; i < edits; i++ {
		pos := r.Intn(len(b) + 1)
		ch := alphabet[r.Intn(len(alphabet))]
		switch r.Intn(3) {
		case 0:
			b = append(b[:pos], append([]byte{ch}, b[pos:]...)...)
		case 1:
			if pos < len(b) {
				b = append(b[:pos], b[pos+1:]...)
			}
		default:
			if pos < len(b) {
				b[pos] = ch
			}
		}
	}
	return string(b)
}

func wrap(s string, width int, eol string) string {
	var parts []string
	for len(s) > width {
		parts = append(parts, s[:width])
		s = s[width:]
	}
	parts = append(parts, s)
	return strings.Join(parts, eol)
}

func main() {
	r := rand.New(rand.NewSource(20261127))
	payload := make([]byte, 300)
	r.Read(payload)
	b64 := base64.StdEncoding.EncodeToString(payload)

	v := vectors{Go: runtime.Version()}

	base64Cases := []string{
		"", "YQ==", "YQ==\n", "YQ=\n=", "\nYQ==", "Y\r\nQ==", "YWJj\r\n", "YQ== ", " YQ==", "YQ==\t",
		"YQ", "YQ=", "=", "==", "YWJj=", "YR==", "YQ==YQ==", "YQ==\nYQ==", "YW Jj", "YWJj\tZGVm",
		"YWJj\n\n", "YWJjZA=\n=\n", "YWJj====", "-_8=", "YWJj\x00", "\u00e9\u00e9\u00e9\u00e9",
		wrap(b64, 64, "\n"), wrap(b64, 76, "\n"), wrap(b64, 76, "\r\n"), wrap(b64, 64, "\n") + "\n",
		wrap(b64, 64, " "), b64 + " ", b64 + "\n", " " + b64,
	}
	for i := 0; i < 300; i++ {
		n := 1 + r.Intn(12)
		chunk := base64.StdEncoding.EncodeToString(payload[:n])
		base64Cases = append(base64Cases, mutate(r, chunk, "AQ+/=\r\n \t", 1+r.Intn(3)))
	}
	for _, s := range base64Cases {
		v.Base64 = append(v.Base64, decode(s, base64.StdEncoding.DecodeString))
	}

	hexCases := []string{"", "6869", "AbCd", "abcdef0123456789", "686", "68 69", "6869\n", " 6869", "0x68", "zz", "6g"}
	for i := 0; i < 100; i++ {
		hexCases = append(hexCases, mutate(r, hex.EncodeToString(payload[:1+r.Intn(6)]), "aF9 \n\tx", 1+r.Intn(2)))
	}
	for _, s := range hexCases {
		v.Hex = append(v.Hex, decode(s, hex.DecodeString))
	}

	lf := func(t string, body string) string {
		return "-----BEGIN " + t + "-----\n" + body + "\n-----END " + t + "-----\n"
	}
	cert76 := lf("CERTIFICATE", wrap(b64, 76, "\n"))
	key64 := lf("PRIVATE KEY", wrap(b64[:200], 64, "\n"))
	pemCases := []string{
		cert76,
		key64 + cert76,
		strings.ReplaceAll(key64+cert76, "\n", "\r\n"),
		"junk before\n" + cert76 + "junk between\n" + key64 + "junk after",
		strings.TrimSuffix(cert76, "\n"),
		lf("RSA PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011\nZ-Extra:  spaced \n\n"+wrap(b64[:120], 64, "\n")),
		lf("CERTIFICATE", "not base64 !!!") + key64,
		lf("CERTIFICATE", wrap(b64[:100], 64, "\n ")),
		lf("CERTIFICATE", wrap(b64[:100], 64, "\t\n")),
		"-----BEGIN CERTIFICATE-----\n" + b64[:40] + "\n-----END CERTIFICATE----- trailing\n" + key64,
		"-----BEGIN CERTIFICATE-----\n" + b64[:40] + "\n-----END CERTIFICATE-----   \n",
		"-----BEGIN CERTIFICATE-----\n" + b64[:40] + "\n-----END PRIVATE KEY-----\n" + key64,
		"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
		"x-----BEGIN CERTIFICATE-----\n" + b64[:40] + "\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----  \n" + b64[:40] + "\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\n" + b64[:40] + "\n-----END CERTIFICATE-----",
		"-----BEGIN CERTIFICATE-----\n" + b64[:40],
		"",
	}
	for i := 0; i < 200; i++ {
		pemCases = append(pemCases, mutate(r, key64+lf("CERTIFICATE", wrap(b64[:90], 64, "\n")), "-\r\n :A=\t", 1+r.Intn(4)))
	}
	for _, s := range pemCases {
		v.PEM = append(v.PEM, blocks(s))
	}

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
}
