package integration

import (
	"sync/atomic"
	"time"
)

// atomicClock is a settable clock for services.SandboxConfig.Now.
type atomicClock struct{ ns atomic.Int64 }

func (c *atomicClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
func (c *atomicClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
