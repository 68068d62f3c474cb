package auth

import (
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// ConnectOption connects with an in-memory .creds document.
func ConnectOption(creds []byte) (nats.Option, error) {
	token, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return nil, err
	}
	kp, err := jwt.ParseDecoratedNKey(creds)
	if err != nil {
		return nil, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	return nats.UserJWTAndSeed(token, string(seed)), nil
}
