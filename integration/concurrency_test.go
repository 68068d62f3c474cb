package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// createConcurrently fires n creates at once through the CLI client, create i as identity
// as(i), and returns the records created and the error codes of the others.
func createConcurrently(t *testing.T, m *testMesh, n int, as func(i int) string, req func(i int) sandbox.CreateRequest) ([]sandbox.Record, map[sandbox.Code]int) {
	t.Helper()
	var (
		mu    sync.Mutex
		ok    []sandbox.Record
		codes = map[sandbox.Code]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			rec, err := m.client(as(i)).Create(context.Background(), req(i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				var e *sandbox.Error
				if !errors.As(err, &e) {
					t.Errorf("create %d: untyped error %v", i, err)
					return
				}
				codes[e.Code]++
				return
			}
			ok = append(ok, rec)
		})
	}
	close(start)
	wg.Wait()
	return ok, codes
}

func TestConcurrentCreatesOfOneName(t *testing.T) {
	m := startMesh(t, services.MeshConfig{Workers: 8, Sandbox: services.SandboxConfig{MaxPerOwner: 100}})
	user := func(i int) string { return fmt.Sprintf("user%d", i) }
	for i := range 50 {
		m.developer(t, user(i))
	}
	ok, codes := createConcurrently(t, m, 50, user, func(i int) sandbox.CreateRequest {
		return sandbox.CreateRequest{Name: "contested"}
	})
	if len(ok) != 1 || codes[sandbox.CodeNameTaken] != 49 {
		t.Fatalf("50 creates of one name: %d succeeded, errors %v", len(ok), codes)
	}
	list, err := m.client(tester).List(context.Background(), sandbox.ListRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != ok[0].ID {
		t.Fatalf("losers left records behind: %d records", len(list))
	}
}

func TestConcurrentCreatesRespectQuota(t *testing.T) {
	m := startMesh(t, services.MeshConfig{Workers: 8, Sandbox: services.SandboxConfig{MaxPerOwner: 5}})
	m.developer(t, "greedy")
	m.developer(t, "other")
	greedy := func(int) string { return "greedy" }
	ok, codes := createConcurrently(t, m, 20, greedy, func(i int) sandbox.CreateRequest {
		return sandbox.CreateRequest{Name: fmt.Sprintf("q%d", i)}
	})
	if len(ok) != 5 || codes[sandbox.CodeQuotaExceeded] != 15 {
		t.Fatalf("20 creates with quota 5: %d succeeded, errors %v", len(ok), codes)
	}
	// Losers released their names: a loser's name is free.
	taken := map[string]bool{}
	for _, r := range ok {
		taken[r.Name] = true
	}
	for i := range 20 {
		name := fmt.Sprintf("q%d", i)
		if taken[name] {
			continue
		}
		if _, err := m.Store.LookupName(context.Background(), name); !errors.Is(err, sandbox.ErrNotFound) {
			t.Fatalf("name %s of a refused create is still reserved (%v)", name, err)
		}
		break
	}
	// The quota is the caller's whatever it types: greedy cannot charge another identity.
	if r := m.as(t, "greedy", "--json", "sandbox", "create", "sneaky", "--owner", "other"); r.errorCode(t) != sandbox.CodeForbidden || r.Code != sandbox.ExitForbidden {
		t.Fatalf("create for another owner: exit %d %s", r.Code, r.Stdout)
	}
	// Another owner is not affected, and a destroy frees a slot.
	if r := m.as(t, "other", "sandbox", "create", "other-1"); r.Code != 0 {
		t.Fatalf("other owner: %s", r.Stderr)
	}
	if r := m.as(t, "greedy", "--json", "sandbox", "create", "sixth"); r.errorCode(t) != sandbox.CodeQuotaExceeded || r.Code != sandbox.ExitConflict {
		t.Fatalf("sixth create: exit %d %s", r.Code, r.Stdout)
	}
	m.as(t, "greedy", "sandbox", "destroy", ok[0].Name, "--yes").must(t)
	m.as(t, "greedy", "sandbox", "create", "sixth").must(t)
	// An admin may create for someone else: it counts against their quota.
	m.gaib(t, "sandbox", "create", "for-greedy", "--owner", "greedy").errorCodeIs(t, sandbox.CodeQuotaExceeded)
}
