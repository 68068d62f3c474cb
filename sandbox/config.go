package sandbox

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A sandbox's config is a set of environment variables its owner gives its bot worker:
// `connect` and `run` hand them out next to gaib's own variables, and a running worker reads
// them (and hears of changes) over NATS with its own credential. Keys marked secret are
// redacted everywhere but in what the worker receives.

// Operation names of the sandbox service's config endpoints (gaib.sandbox.<op>.<caller>).
const (
	OpConfigSet   = "config-set"
	OpConfigUnset = "config-unset"
	OpConfigGet   = "config-get"
	OpConfigList  = "config-list"
)

// BucketConfig holds each sandbox's config under its id, values in clear: only the mesh
// reads it.
const BucketConfig = "gaib_config"

// Codes of refused config input. A refusal changes nothing.
const (
	// CodeInvalidConfigKey: not an environment variable name, or one gaib hands out itself,
	// or one that changes how a shell or program behaves (see ValidateConfigKey).
	CodeInvalidConfigKey Code = "invalid_config_key"
	// CodeInvalidConfigValue: a value too long, not UTF-8, or with a control character
	// other than tab, newline and carriage return.
	CodeInvalidConfigValue Code = "invalid_config_value"
	// CodeConfigTooLarge: the change would leave the sandbox more than MaxConfigKeys keys or
	// MaxConfigBytes bytes.
	CodeConfigTooLarge Code = "config_too_large"
)

// Bounds of a sandbox's config.
const (
	// MaxConfigKeyLen is the longest key.
	MaxConfigKeyLen = 64
	// MaxConfigValueBytes is the largest value (4 KiB).
	MaxConfigValueBytes = 4 << 10
	// MaxConfigKeys is how many keys a sandbox may have.
	MaxConfigKeys = 64
	// MaxConfigBytes bounds the sum of the lengths of every key and value (32 KiB).
	MaxConfigBytes = 32 << 10
)

// RedactedValue stands for a secret value in the audit trail.
const RedactedValue = "[redacted]"

var configKeyRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// ReservedConfigPrefixes are the prefixes of the variables gaib hands out (and may hand out
// in the future): a config key may not start with one.
var ReservedConfigPrefixes = []string{"NATS_", "SANDBOX_", "DISCORD_", "GAIB_"}

// DangerousConfigKeys are names a config may not set because they change how the shell that
// evals `gaib sandbox connect`, or a program `gaib sandbox run` starts, behaves: what runs
// (PATH, shell start-up files and hooks, editors and pagers), what code a loader or an
// interpreter loads (LD_PRELOAD, PYTHONPATH, NODE_OPTIONS), whom TLS trusts and where traffic
// goes (CA bundles, proxies), and where gaib finds its own credential (HOME, XDG_*).
var DangerousConfigKeys = []string{
	// The shell and the session.
	"_", "PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV", "CDPATH", "GLOBIGNORE", "SHELLOPTS", "BASHOPTS",
	"PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "POSIXLY_CORRECT", "ZDOTDIR", "HISTFILE", "TMOUT",
	"USER", "LOGNAME", "PWD", "OLDPWD", "TERM", "TMPDIR", "TMP", "TEMP", "MAIL", "MAILPATH", "MAILCHECK",
	"EDITOR", "VISUAL", "PAGER", "MANPAGER", "LESSOPEN", "LESSCLOSE", "BROWSER", "SUDO_ASKPASS", "SSH_ASKPASS",
	// The C library and the locale (GCONV_PATH and NLSPATH load files chosen by the value).
	"GCONV_PATH", "NLSPATH", "LOCPATH", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "RESOLV_HOST_CONF",
	"TZDIR", "LANG", "LANGUAGE", "LINGUAS",
	// Interpreters and runtimes that load code or flags from the environment.
	"PERL5LIB", "PERL5OPT", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
	"NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED", "CLASSPATH", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS",
	"GOFLAGS", "GODEBUG", "GOROOT", "GOPATH", "GOTOOLCHAIN", "GOPROXY", "GOENV",
	"JAVA_OPTS", "MAVEN_OPTS", "GRADLE_OPTS", "SBT_OPTS", "LUA_INIT", "PHPRC", "PHP_INI_SCAN_DIR",
	"R_PROFILE", "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "NIX_PATH", "GOSUMDB", "GONOSUMDB",
	"GOINSECURE", "GONOPROXY", "GOPRIVATE", "GOEXPERIMENT", "GOBIN", "GOCACHE", "GOMODCACHE",
	// Build tools and compilers the shell's next command may run.
	"CC", "CXX", "CPP", "LD", "AR", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "RUSTC", "RUSTFLAGS",
	"RUSTDOCFLAGS", "RUSTC_WRAPPER", "MAKEFLAGS", "MAKE",
	// Interactive shells (bash, zsh) and what runs in them: prompts and hooks that evaluate
	// their value, history, completion, key bindings, terminal descriptions.
	"PS0", "PROMPT", "PROMPT2", "PROMPT3", "PROMPT4", "RPROMPT", "RPROMPT2", "RPS1", "RPS2", "SPROMPT",
	"FUNCNEST", "FCEDIT", "INPUTRC", "NULLCMD", "READNULLCMD", "FPATH", "TIMEFORMAT", "HOSTFILE",
	"FIGNORE", "EXECIGNORE", "WORDCHARS", "TERMINFO", "TERMINFO_DIRS", "INFOPATH",
	// Pagers and editors of the tools the quick start uses next.
	"SYSTEMD_PAGER", "SYSTEMD_EDITOR", "SUDO_EDITOR", "LESS", "LESSKEY", "LESSKEYIN", "MORE", "MANOPT",
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	// TLS trust, key logging, Kerberos, proxies, and tools' own configuration files.
	"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSLKEYLOGFILE",
	"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY",
	"CURL_HOME", "WGETRC", "NETRC", "GNUPGHOME", "DOCKER_HOST", "DOCKER_CONFIG", "KUBECONFIG",
}

// A list cannot know every program's variables: it refuses the families known to run code,
// load files or redirect trust in the shell that evals `gaib sandbox connect` and in the
// tools a developer runs next. What keeps the rest in check is who may set a config (the
// sandbox's owner and admins), that every change is in the audit trail with its actor, and
// that `gaib sandbox config list` shows what `connect` will export.
//
// DangerousConfigPrefixes are prefixes of names refused for the same reasons: the dynamic
// loaders (LD_, DYLD_), glibc (GLIBC_TUNABLES, MALLOC_), bash (BASH_FUNC_, BASH_XTRACEFD),
// the locale (LC_), Python, Java, git and ssh, XDG base directories, OpenSSL (OPENSSL_CONF
// loads providers and engines into every program using it), Kerberos, and libpq (PGHOST,
// PGPASSFILE, PGSSLROOTCERT… would point psql and the bot's driver elsewhere than the
// sandbox's DATABASE_URL says).
var DangerousConfigPrefixes = []string{"LD_", "DYLD_", "GLIBC_", "MALLOC_", "BASH_", "LC_", "PYTHON", "_JAVA", "GIT_", "SSH_", "XDG_",
	"OPENSSL_", "KRB5", "PG", "HIST", "COMP_", "ZSH_", "PSQL", "REDISCLI_", "ERL_", "DOTNET_", "COREHOST_", "CGO_",
	"NPM_CONFIG_", "YARN_", "PIP_", "UV_", "POETRY_", "CARGO_", "BUNDLE_", "GEM_", "CONDA_"}

// ValidateConfigKey checks that key is an environment variable name (`[A-Z_][A-Z0-9_]*`, at
// most MaxConfigKeyLen characters) that gaib does not hand out itself (EnvNames and the
// ReservedConfigPrefixes) and that is not dangerous in a shell or a child's environment
// (DangerousConfigKeys, DangerousConfigPrefixes).
func ValidateConfigKey(key string) error {
	switch {
	case len(key) > MaxConfigKeyLen:
		return Errorf(CodeInvalidConfigKey, "config key %.40q… is longer than %d characters", key, MaxConfigKeyLen)
	case !configKeyRe.MatchString(key):
		return Errorf(CodeInvalidConfigKey, "config key %q is not an environment variable name (upper-case letters, digits and _, not starting with a digit)", key)
	case slices.Contains(EnvNames, key) || hasAnyPrefix(key, ReservedConfigPrefixes):
		return Errorf(CodeInvalidConfigKey, "config key %s is gaib's own (gaib sets %v and every name starting with %v)", key, EnvNames, ReservedConfigPrefixes)
	case slices.Contains(DangerousConfigKeys, key) || hasAnyPrefix(key, DangerousConfigPrefixes):
		return Errorf(CodeInvalidConfigKey, "config key %s would change how a shell or program behaves (PATH, HOME, LD_*, …): gaib refuses it", key)
	}
	return nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

// ValidateConfigValue checks a value of key: at most MaxConfigValueBytes, UTF-8, and no
// control character but tab, newline and carriage return (a value printed on a terminal
// cannot drive it, and a NUL cannot cut an environment entry short).
func ValidateConfigValue(key, value string) error {
	if len(value) > MaxConfigValueBytes {
		return Errorf(CodeInvalidConfigValue, "the value of %s is %d bytes; the limit is %d", key, len(value), MaxConfigValueBytes)
	}
	if !utf8.ValidString(value) {
		return Errorf(CodeInvalidConfigValue, "the value of %s is not UTF-8", key)
	}
	for i, r := range value {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return Errorf(CodeInvalidConfigValue, "the value of %s has the control character %U at byte %d", key, r, i)
		}
	}
	return nil
}

// ValidateConfigVar checks one key and its value.
func ValidateConfigVar(key, value string) error {
	if err := ValidateConfigKey(key); err != nil {
		return err
	}
	return ValidateConfigValue(key, value)
}

// ConfigVar is one key of a sandbox's config. In answers to anyone but the worker, the
// value of a secret key is empty and Redacted is set, unless its owner asked to see it.
type ConfigVar struct {
	Key      string `json:"key" example:"LOG_LEVEL" doc:"An environment variable name."`
	Value    string `json:"value,omitempty" example:"debug"`
	Secret   bool   `json:"secret,omitempty" doc:"Redacted in answers unless show_secrets, and always in the audit trail."`
	Redacted bool   `json:"redacted,omitempty" doc:"The value of this secret key was withheld."`
}

// ValidateConfigVars checks the keys and values a set or a create asks for: each valid,
// none given twice, at most MaxConfigKeys and MaxConfigBytes together.
func ValidateConfigVars(vars []ConfigVar) error {
	if len(vars) > MaxConfigKeys {
		return Errorf(CodeConfigTooLarge, "%d config keys given; a sandbox may have at most %d", len(vars), MaxConfigKeys)
	}
	if n := (Config{Vars: vars}).bytes(); n > MaxConfigBytes {
		return Errorf(CodeConfigTooLarge, "%d bytes of config keys and values given; the limit is %d", n, MaxConfigBytes)
	}
	seen := make(map[string]bool, len(vars))
	for _, v := range vars {
		if err := ValidateConfigVar(v.Key, v.Value); err != nil {
			return err
		}
		if v.Redacted {
			return Errorf(CodeInvalidConfigValue, "%s is marked redacted: give its value", v.Key)
		}
		if seen[v.Key] {
			return Errorf(CodeInvalidConfigKey, "config key %s is given twice", v.Key)
		}
		seen[v.Key] = true
	}
	return nil
}

// Config is a sandbox's whole config as the mesh stores it, values in clear.
type Config struct {
	SandboxID string `json:"sandbox_id"`
	// Vars are sorted by key, each key once.
	Vars      []ConfigVar `json:"vars"`
	UpdatedAt time.Time   `json:"updated_at,omitzero"`
	UpdatedBy string      `json:"updated_by,omitempty"`
	// Revision is the KV revision the config was read at (0: none stored); not stored.
	Revision uint64 `json:"-"`
}

// Validate checks a stored config before anything hands it out: it belongs to id, and
// its keys are sorted, unique and valid, within the bounds.
func (c Config) Validate(id string) error {
	if c.SandboxID != id {
		return Errorf(CodeInternal, "config of %s names sandbox %q", id, c.SandboxID)
	}
	if err := ValidateConfigVars(c.Vars); err != nil {
		return Errorf(CodeInternal, "config of %s is corrupt: %v", id, err)
	}
	if !slices.IsSortedFunc(c.Vars, byKey) || c.bytes() > MaxConfigBytes {
		return Errorf(CodeInternal, "config of %s is corrupt: unsorted or too large", id)
	}
	return nil
}

func byKey(a, b ConfigVar) int { return strings.Compare(a.Key, b.Key) }

func (c Config) bytes() int {
	n := 0
	for _, v := range c.Vars {
		n += len(v.Key) + len(v.Value)
	}
	return n
}

// lookup returns the index of key in the sorted Vars.
func (c Config) lookup(key string) (int, bool) {
	return slices.BinarySearchFunc(c.Vars, key, func(v ConfigVar, k string) int { return strings.Compare(v.Key, k) })
}

// Get returns key's variable.
func (c Config) Get(key string) (ConfigVar, bool) {
	i, ok := c.lookup(key)
	if !ok {
		return ConfigVar{}, false
	}
	return c.Vars[i], true
}

// Set sets vars (validated by ValidateConfigVars) and returns what changed: a key whose
// value and secrecy stay the same is no change. It refuses, changing nothing, a result
// beyond MaxConfigKeys or MaxConfigBytes.
func (c *Config) Set(vars []ConfigVar) ([]ConfigChange, error) {
	next := slices.Clone(c.Vars)
	var changes []ConfigChange
	for _, v := range vars {
		v.Redacted = false
		i, ok := Config{Vars: next}.lookup(v.Key)
		switch {
		case ok && next[i] == v:
			continue
		case ok:
			changes = append(changes, changeOf(v.Key, &next[i], &v))
			next[i] = v
		default:
			changes = append(changes, changeOf(v.Key, nil, &v))
			next = slices.Insert(next, i, v)
		}
	}
	grown := Config{Vars: next}
	if len(next) > MaxConfigKeys {
		return nil, Errorf(CodeConfigTooLarge, "the config would have %d keys; a sandbox may have at most %d (unset some first)", len(next), MaxConfigKeys)
	}
	if n := grown.bytes(); n > MaxConfigBytes {
		return nil, Errorf(CodeConfigTooLarge, "the config would be %d bytes of keys and values; the limit is %d", n, MaxConfigBytes)
	}
	c.Vars = next
	return changes, nil
}

// Unset removes keys and returns what changed (keys that were not set are no change).
func (c *Config) Unset(keys []string) []ConfigChange {
	var changes []ConfigChange
	for _, k := range keys {
		i, ok := c.lookup(k)
		if !ok {
			continue
		}
		changes = append(changes, changeOf(k, &c.Vars[i], nil))
		c.Vars = slices.Delete(c.Vars, i, i+1)
	}
	return changes
}

// Redacted returns the variables for an answer: secret values withheld unless show.
func (c Config) Redacted(show bool) []ConfigVar {
	out := make([]ConfigVar, len(c.Vars))
	for i, v := range c.Vars {
		out[i] = v.Redact(show)
	}
	return out
}

// Redact returns v for an answer: its value withheld when it is secret, unless show.
func (v ConfigVar) Redact(show bool) ConfigVar {
	if v.Secret && !show {
		v.Value, v.Redacted = "", true
	}
	return v
}

// Env is the config as the worker's environment, values in clear.
func (c Config) Env() []EnvVar {
	out := make([]EnvVar, len(c.Vars))
	for i, v := range c.Vars {
		out[i] = EnvVar{Name: v.Key, Value: v.Value}
	}
	return out
}

// ConfigChange is one key changed in a sandbox's config, as the audit trail records it: its
// value before and after (absent: nil). The values of a key that was or becomes secret are
// RedactedValue.
type ConfigChange struct {
	Key    string  `json:"key"`
	Secret bool    `json:"secret,omitempty"`
	Before *string `json:"before,omitempty"`
	After  *string `json:"after,omitempty"`
}

func changeOf(key string, before, after *ConfigVar) ConfigChange {
	ch := ConfigChange{Key: key, Secret: (before != nil && before.Secret) || (after != nil && after.Secret)}
	value := func(v *ConfigVar) *string {
		switch {
		case v == nil:
			return nil
		case ch.Secret:
			s := RedactedValue
			return &s
		}
		s := v.Value
		return &s
	}
	ch.Before, ch.After = value(before), value(after)
	return ch
}

// String renders a change for people: +KEY=value, ~KEY=before→after, -KEY.
func (ch ConfigChange) String() string {
	switch {
	case ch.Before == nil && ch.After != nil:
		return fmt.Sprintf("+%s=%q", ch.Key, *ch.After)
	case ch.After == nil:
		return "-" + ch.Key
	default:
		return fmt.Sprintf("~%s=%q→%q", ch.Key, *ch.Before, *ch.After)
	}
}

// ConfigKeys are the keys of changes.
func ConfigKeys(changes []ConfigChange) []string {
	out := make([]string, len(changes))
	for i, ch := range changes {
		out[i] = ch.Key
	}
	return out
}

// ConfigSetRequest sets keys of a sandbox's config (owner or admin; running sandboxes).
type ConfigSetRequest struct {
	Sandbox string      `json:"sandbox"`
	Vars    []ConfigVar `json:"vars"`
}

// ConfigUnsetRequest removes keys of a sandbox's config (owner or admin; running
// sandboxes). Keys that are not set are no error.
type ConfigUnsetRequest struct {
	Sandbox string   `json:"sandbox"`
	Keys    []string `json:"keys"`
}

// ConfigGetRequest reads one key of a sandbox's config (owner or admin).
type ConfigGetRequest struct {
	Sandbox     string `json:"sandbox"`
	Key         string `json:"key"`
	ShowSecrets bool   `json:"show_secrets,omitempty"`
}

// ConfigListRequest reads a sandbox's whole config (owner or admin).
type ConfigListRequest struct {
	Sandbox     string `json:"sandbox"`
	ShowSecrets bool   `json:"show_secrets,omitempty"`
}

// ConfigResponse is a sandbox's config as its owner sees it. Changed names the keys a set or
// unset changed.
type ConfigResponse struct {
	SandboxID string      `json:"sandbox_id" example:"k3x9m2p7qa"`
	Sandbox   string      `json:"sandbox" example:"demo" doc:"The sandbox's name."`
	Vars      []ConfigVar `json:"vars" doc:"Sorted by key."`
	UpdatedAt time.Time   `json:"updated_at,omitzero"`
	UpdatedBy string      `json:"updated_by,omitempty" example:"alice"`
	Changed   []string    `json:"changed,omitempty" doc:"The keys this set or unset changed."`
}

// WorkerConfig is what a sandbox's worker receives over NATS: the answer on
// ConfigGetSubject, and each change on ConfigChangedSubject. Values are in clear (secret ones
// too: the worker owns them), and only ever on the sandbox's own subjects.
type WorkerConfig struct {
	SandboxID string   `json:"sandbox_id"`
	Revision  uint64   `json:"revision"`
	Env       []EnvVar `json:"env"`
	// Changed names the keys set or unset (on ConfigChangedSubject only).
	Changed []string `json:"changed,omitempty"`
}

// Subject tokens of the config requests and notices in a sandbox's namespace.
const (
	configGetToken     = "config.get"
	configChangedToken = "config.changed"
)

// ConfigGetSubject is where sandbox id's worker asks for its config: sandbox.<id>.config.get.
func ConfigGetSubject(id string) string { return SandboxSubject(id, configGetToken) }

// ConfigChangedSubject is where the mesh tells sandbox id's workers that its config changed:
// sandbox.<id>.config.changed.
func ConfigChangedSubject(id string) string { return SandboxSubject(id, configChangedToken) }

// ConfigGetWildcard is what the mesh's config responder subscribes to: sandbox.*.config.get.
const ConfigGetWildcard = SandboxPrefix + ".*." + configGetToken

// ConfigResponderQueue is the queue group of the config responders, so one answers.
const ConfigResponderQueue = "gaib-config"

// ConfigRequestID returns the sandbox id of a config request subject, taken from the subject
// alone, and whether the subject is exactly sandbox.<valid id>.config.get.
func ConfigRequestID(subject string) (string, bool) {
	id, ok := strings.CutPrefix(subject, SandboxPrefix+".")
	if !ok {
		return "", false
	}
	id, ok = strings.CutSuffix(id, "."+configGetToken)
	return id, ok && ValidID(id)
}

// ConfigReplyAllowed reports whether the mesh may answer a config request of sandbox id on
// reply: only through the service import of the sandbox's own account, whose reply
// subjects the server makes (ServiceImportReplyPrefix) and maps back into that account.
// NATS checks what a client publishes, not the reply subject it names: a request that did
// not come through the import (only the mesh's own connections could send one) is not
// answered, so nothing can have the mesh publish into another sandbox, the gateway or the
// audit trail.
func ConfigReplyAllowed(id, reply string) bool {
	rest, ok := strings.CutPrefix(reply, ServiceImportReplyPrefix)
	return ok && ValidID(id) && rest != "" && !strings.ContainsAny(reply, "*> \t\r\n")
}
