package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// hotFields are the fields exchange and introspection read. A field added
// to KeyRecord fails this test until it is either added here and to Hot
// (and to the cache's encoding, whose round-trip test sets every field),
// or left cold.
var hotFields = []string{"ID", "Owner", "SecretHash", "PreviousSecretHash", "GraceDeadline", "State",
	"RevocationReason", "ExpiresAt", "Scopes", "Audiences", "BoundIdentities", "MaxTTL", "RateLimit",
	"RotationPeriod", "CreatedAt", "RotatedAt", "LastAttestedAt"}

// everyFieldSet returns a record whose every field is non-zero.
func everyFieldSet(t *testing.T) store.KeyRecord {
	t.Helper()
	var rec store.KeyRecord
	v := reflect.ValueOf(&rec).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
		case reflect.Int64, reflect.Int:
			f.SetInt(1)
		case reflect.Uint8, reflect.Uint64:
			f.SetUint(1)
		case reflect.Struct:
			switch f.Type() {
			case reflect.TypeFor[time.Time]():
				f.Set(reflect.ValueOf(time.Unix(1, 0)))
			case reflect.TypeFor[store.RateLimit]():
				f.Set(reflect.ValueOf(store.RateLimit{PerSecond: 1, Burst: 1}))
			default:
				t.Fatalf("field %s of type %s: teach this test to set it", v.Type().Field(i).Name, f.Type())
			}
		default:
			t.Fatalf("field %s of kind %s: teach this test to set it", v.Type().Field(i).Name, f.Kind())
		}
	}
	return rec
}

func TestHotKeepsExactlyTheHotFields(t *testing.T) {
	hot := reflect.ValueOf(everyFieldSet(t).Hot())
	for i := range hot.NumField() {
		name := hot.Type().Field(i).Name
		kept := !hot.Field(i).IsZero()
		if want := slices.Contains(hotFields, name); kept != want {
			t.Errorf("Hot keeps %s = %v, want %v", name, kept, want)
		}
	}
}

// plainKeys is a KeyStore without a memory of its own.
type plainKeys struct {
	store.KeyStore
	rec store.KeyRecord
}

func (p plainKeys) GetKey(_ context.Context, id string) (store.KeyRecord, error) {
	if id != p.rec.ID {
		return store.KeyRecord{}, store.ErrNotFound
	}
	return p.rec, nil
}

// Over a store that keeps no hot records, the helpers read the whole
// record and keep its hot part.
func TestHotHelpersOverAPlainStore(t *testing.T) {
	ctx := context.Background()
	rec := everyFieldSet(t)
	ks := plainKeys{rec: rec}
	got, err := store.GetHotKey(ctx, ks, rec.ID)
	if err != nil || !reflect.DeepEqual(got, rec.Hot()) {
		t.Fatalf("GetHotKey = %+v, %v; want %+v", got, err, rec.Hot())
	}
	state, expires, err := store.GetKeyStatus(ctx, ks, rec.ID)
	if err != nil || state != rec.State || !expires.Equal(rec.ExpiresAt) {
		t.Fatalf("GetKeyStatus = %v, %v, %v", state, expires, err)
	}
	if _, err := store.GetHotKey(ctx, ks, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetHotKey(nope) = %v, want ErrNotFound", err)
	}
	if _, _, err := store.GetKeyStatus(ctx, ks, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKeyStatus(nope) = %v, want ErrNotFound", err)
	}
}
