package sandbox_test

import (
	"fmt"

	"github.com/arrakis/gaib/sandbox"
)

func ExampleResourcesFor() {
	r := sandbox.ResourcesFor("k3v9x0a1bc")
	fmt.Println(r.Schema, r.Role, r.RedisPrefix, r.RedisUser, r.NATSPrefix)
	fmt.Println(sandbox.SandboxSubject("k3v9x0a1bc", "events.member.join"))
	// Output:
	// sandbox_k3v9x0a1bc sandbox_k3v9x0a1bc sandbox:k3v9x0a1bc: sandbox_k3v9x0a1bc sandbox.k3v9x0a1bc.
	// sandbox.k3v9x0a1bc.events.member.join
}

func ExampleParseTTL() {
	for _, s := range []string{"90m", "2d", "1w", "1d12h"} {
		d, _ := sandbox.ParseTTL(s)
		fmt.Println(s, "=", d, "=", sandbox.FormatTTL(d))
	}
	_, err := sandbox.ParseTTL("soon")
	fmt.Println(err)
	// Output:
	// 90m = 1h30m0s = 1h30m
	// 2d = 48h0m0s = 2d
	// 1w = 168h0m0s = 7d
	// 1d12h = 36h0m0s = 1d12h
	// ttl "soon" is not a duration (examples: 90m, 48h, 2d, 1w)
}

func ExampleCode_ExitCode() {
	err := sandbox.Errorf(sandbox.CodeNameTaken, "sandbox name %q is taken", "demo")
	fmt.Println(err.Code, err.Code.ExitCode(), err)
	// Output:
	// name_taken 4 sandbox name "demo" is taken
}
