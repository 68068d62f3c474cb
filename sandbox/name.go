package sandbox

import "strings"

// MaxNameLen is the longest sandbox name accepted.
const MaxNameLen = 40

// ValidateName checks that name is a DNS label: [a-z0-9-], 1 to 40 characters, no leading or
// trailing '-'. The error quotes the name so that control characters show.
func ValidateName(name string) error {
	switch {
	case name == "":
		return Errorf(CodeInvalidName, "sandbox name is empty")
	case len(name) > MaxNameLen:
		return Errorf(CodeInvalidName, "sandbox name %.50q is longer than %d characters", name, MaxNameLen)
	case name[0] == '-' || name[len(name)-1] == '-':
		return Errorf(CodeInvalidName, "sandbox name %q must not start or end with '-'", name)
	}
	for i := 0; i < len(name); i++ {
		if !isLowerAlnum(name[i]) && name[i] != '-' {
			return Errorf(CodeInvalidName,
				"sandbox name %q is not a DNS label: use lower-case letters, digits and '-'", name)
		}
	}
	return nil
}

// ValidateNewName is ValidateName for a name being given to a sandbox: it also refuses
// names shaped like a sandbox id (10 letters and digits starting with a letter), so a name
// can never be mistaken for another sandbox's id.
func ValidateNewName(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if ValidID(name) {
		return Errorf(CodeInvalidName,
			"sandbox name %q looks like a sandbox id (10 letters and digits): add a '-' or change its length", name)
	}
	return nil
}

// ValidateOwner checks an owner: owners are identities (ValidateIdentity).
func ValidateOwner(owner string) error { return ValidateIdentity(owner) }

// DefaultName is the name given when the user picks none: `<owner>-<4 random chars>`, with
// the owner folded into a DNS label.
func DefaultName(owner string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(owner) {
		switch {
		case r < 128 && isLowerAlnum(byte(r)):
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > MaxNameLen-5 {
		base = strings.TrimRight(base[:MaxNameLen-5], "-")
	}
	suffix := randomString(4, idAlphabet, idAlphabet)
	if base == "" {
		return "sandbox-" + suffix
	}
	return base + "-" + suffix
}
