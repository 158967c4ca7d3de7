package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func signing(kid string, created time.Time) store.SigningKeyRecord {
	return store.SigningKeyRecord{KID: kid, Alg: "EdDSA", Private: []byte("pkcs8:" + kid), CreatedAt: created}
}

func runSigningKeys(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("update changes lifecycle fields only", func(t *testing.T) {
		s := open(t)
		if err := s.PutSigningKey(ctx, signing("k1", t0)); err != nil {
			t.Fatal(err)
		}
		got, err := s.UpdateSigningKey(ctx, "k1", func(r *store.SigningKeyRecord) error {
			r.State, r.ActivatedAt, r.RemoveAt = "retired", t0.Add(time.Hour), t0.Add(2*time.Hour)
			return nil
		})
		if err != nil || got.State != "retired" || !got.RemoveAt.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("UpdateSigningKey = %+v, %v", got, err)
		}
		list, err := s.ListSigningKeys(ctx)
		if err != nil || len(list) != 1 || list[0].State != "retired" || !list[0].ActivatedAt.Equal(t0.Add(time.Hour)) ||
			string(list[0].Private) != "pkcs8:k1" {
			t.Fatalf("stored after update: %+v, %v", list, err)
		}
		for name, mutate := range map[string]func(*store.SigningKeyRecord){
			"private": func(r *store.SigningKeyRecord) { r.Private = []byte("other") },
			"alg":     func(r *store.SigningKeyRecord) { r.Alg = "RS256" },
			"kid":     func(r *store.SigningKeyRecord) { r.KID = "k2" },
			"created": func(r *store.SigningKeyRecord) { r.CreatedAt = t0.Add(time.Second) },
		} {
			_, err := s.UpdateSigningKey(ctx, "k1", func(r *store.SigningKeyRecord) error { mutate(r); return nil })
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Errorf("changing %s: %v, want ErrInvalidArgument", name, err)
			}
		}
		if _, err := s.UpdateSigningKey(ctx, "missing", func(*store.SigningKeyRecord) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing key: %v", err)
		}
		if err := s.DeleteSigningKey(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSigningKey(ctx, "k1"); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
		if list, err := s.ListSigningKeys(ctx); err != nil || len(list) != 0 {
			t.Fatalf("after delete: %+v, %v", list, err)
		}
	})

	t.Run("empty store lists nothing", func(t *testing.T) {
		s := open(t)
		got, err := s.ListSigningKeys(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("ListSigningKeys = %v, %v; want none", got, err)
		}
	})

	t.Run("listed by creation time then kid", func(t *testing.T) {
		s := open(t)
		// KIDs sort opposite to creation time, so a store that orders by
		// key shows up.
		for _, rec := range []store.SigningKeyRecord{
			signing("a-newest", t0.Add(3*time.Hour)),
			signing("c-oldest", t0.In(time.FixedZone("X", -7200))),
			signing("b-middle", t0.Add(time.Hour)),
			signing("a-middle-twin", t0.Add(time.Hour)),
		} {
			if err := s.PutSigningKey(ctx, rec); err != nil {
				t.Fatalf("PutSigningKey(%q): %v", rec.KID, err)
			}
		}
		got, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		want := []string{"c-oldest", "a-middle-twin", "b-middle", "a-newest"}
		var kids []string
		for _, r := range got {
			kids = append(kids, r.KID)
		}
		if fmt.Sprint(kids) != fmt.Sprint(want) {
			t.Fatalf("order = %v, want %v", kids, want)
		}
		first := got[0]
		if first.Alg != "EdDSA" || string(first.Private) != "pkcs8:c-oldest" || !first.CreatedAt.Equal(t0) {
			t.Fatalf("record not returned intact: %+v", first)
		}
	})

	t.Run("put rules", func(t *testing.T) {
		cases := []struct {
			name    string
			second  store.SigningKeyRecord
			wantErr error
		}{
			{"identical again is a no-op", signing("k", t0), nil},
			{"other private key", store.SigningKeyRecord{KID: "k", Alg: "EdDSA", Private: []byte("evil"), CreatedAt: t0}, store.ErrAlreadyExists},
			{"other algorithm", store.SigningKeyRecord{KID: "k", Alg: "ES256", Private: []byte("pkcs8:k"), CreatedAt: t0}, store.ErrAlreadyExists},
			{"other creation time", signing("k", t0.Add(time.Second)), store.ErrAlreadyExists},
			{"empty kid", signing("", t0), store.ErrInvalidArgument},
			{"no algorithm", store.SigningKeyRecord{KID: "k2", Private: []byte("x")}, store.ErrInvalidArgument},
			{"no private key", store.SigningKeyRecord{KID: "k2", Alg: "EdDSA"}, store.ErrInvalidArgument},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				if err := s.PutSigningKey(ctx, signing("k", t0)); err != nil {
					t.Fatalf("PutSigningKey: %v", err)
				}
				if err := s.PutSigningKey(ctx, tc.second); !errors.Is(err, tc.wantErr) {
					t.Fatalf("second PutSigningKey = %v, want %v", err, tc.wantErr)
				}
				got, err := s.ListSigningKeys(ctx)
				if err != nil || len(got) != 1 || string(got[0].Private) != "pkcs8:k" || got[0].Alg != "EdDSA" {
					t.Fatalf("stored keys after second put = %v, %v; want the original only", got, err)
				}
			})
		}
	})

	t.Run("records are copied in and out", func(t *testing.T) {
		s := open(t)
		in := signing("k", t0)
		if err := s.PutSigningKey(ctx, in); err != nil {
			t.Fatalf("PutSigningKey: %v", err)
		}
		in.Private[0] ^= 0xff
		out, err := s.ListSigningKeys(ctx)
		if err != nil || len(out) != 1 {
			t.Fatalf("ListSigningKeys = %v, %v", out, err)
		}
		out[0].Private[0] ^= 0xff
		again, err := s.ListSigningKeys(ctx)
		if err != nil || len(again) != 1 || string(again[0].Private) != "pkcs8:k" {
			t.Fatalf("stored private key changed through caller memory: %v, %v", again, err)
		}
	})
}
