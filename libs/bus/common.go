package bus

import (
	"fmt"
	"os"
	"strings"
)

// password is the SASL password: PasswordFile's content (without a
// trailing newline) when set, else Password. Shared by both backends.
func (s SASLConfig) password() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("sasl password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
