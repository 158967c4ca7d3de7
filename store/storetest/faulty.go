package storetest

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/latchkeyhq/latchkey/store"
)

var _ store.Store = (*Faulty)(nil)

// Faulty wraps a store and, while failing is switched on, fails every call
// with an error wrapping store.ErrUnavailable without reaching the wrapped
// store. Servers use it to prove they fail closed when storage breaks.
type Faulty struct {
	inner   store.Store
	failing atomic.Bool
	calls   atomic.Int64
}

// NewFaulty wraps inner; it starts out passing calls through.
func NewFaulty(inner store.Store) *Faulty {
	return &Faulty{inner: inner}
}

// SetFailing switches fault injection on or off. It is safe to call while
// other goroutines use the store.
func (f *Faulty) SetFailing(on bool) { f.failing.Store(on) }

// FailedCalls reports how many calls failed by injection.
func (f *Faulty) FailedCalls() int64 { return f.calls.Load() }

func (f *Faulty) fault(op string) error {
	if !f.failing.Load() {
		return nil
	}
	f.calls.Add(1)
	return fmt.Errorf("%w: injected fault in %s", store.ErrUnavailable, op)
}

// CreateKey implements store.KeyStore.
func (f *Faulty) CreateKey(ctx context.Context, rec store.KeyRecord) error {
	if err := f.fault("CreateKey"); err != nil {
		return err
	}
	return f.inner.CreateKey(ctx, rec)
}

// GetKey implements store.KeyStore.
func (f *Faulty) GetKey(ctx context.Context, id string) (store.KeyRecord, error) {
	if err := f.fault("GetKey"); err != nil {
		return store.KeyRecord{}, err
	}
	return f.inner.GetKey(ctx, id)
}

// ListKeys implements store.KeyStore.
func (f *Faulty) ListKeys(ctx context.Context, q store.KeyQuery) (store.KeyPage, error) {
	if err := f.fault("ListKeys"); err != nil {
		return store.KeyPage{}, err
	}
	return f.inner.ListKeys(ctx, q)
}

// UpdateKey implements store.KeyStore.
func (f *Faulty) UpdateKey(ctx context.Context, id string, fn func(*store.KeyRecord) error) (store.KeyRecord, error) {
	if err := f.fault("UpdateKey"); err != nil {
		return store.KeyRecord{}, err
	}
	return f.inner.UpdateKey(ctx, id, fn)
}

// PutSigningKey implements store.SigningKeyStore.
func (f *Faulty) PutSigningKey(ctx context.Context, rec store.SigningKeyRecord) error {
	if err := f.fault("PutSigningKey"); err != nil {
		return err
	}
	return f.inner.PutSigningKey(ctx, rec)
}

// ListSigningKeys implements store.SigningKeyStore.
func (f *Faulty) ListSigningKeys(ctx context.Context) ([]store.SigningKeyRecord, error) {
	if err := f.fault("ListSigningKeys"); err != nil {
		return nil, err
	}
	return f.inner.ListSigningKeys(ctx)
}

// RecordUsage implements store.UsageStore.
func (f *Faulty) RecordUsage(ctx context.Context, usage []store.KeyUsage) error {
	if err := f.fault("RecordUsage"); err != nil {
		return err
	}
	return f.inner.RecordUsage(ctx, usage)
}

// Close always closes the wrapped store, failing or not, so that tests do
// not leak it.
func (f *Faulty) Close() error { return f.inner.Close() }

// UpdateSigningKey implements store.SigningKeyStore.
func (f *Faulty) UpdateSigningKey(ctx context.Context, kid string, fn func(*store.SigningKeyRecord) error) (store.SigningKeyRecord, error) {
	if err := f.fault("UpdateSigningKey"); err != nil {
		return store.SigningKeyRecord{}, err
	}
	return f.inner.UpdateSigningKey(ctx, kid, fn)
}

// DeleteSigningKey implements store.SigningKeyStore.
func (f *Faulty) DeleteSigningKey(ctx context.Context, kid string) error {
	if err := f.fault("DeleteSigningKey"); err != nil {
		return err
	}
	return f.inner.DeleteSigningKey(ctx, kid)
}

// AppendRevocation implements store.RevocationLog.
func (f *Faulty) AppendRevocation(ctx context.Context, r store.Revocation) (store.Revocation, error) {
	if err := f.fault("AppendRevocation"); err != nil {
		return store.Revocation{}, err
	}
	return f.inner.AppendRevocation(ctx, r)
}

// LoadRevocations implements store.RevocationLog.
func (f *Faulty) LoadRevocations(ctx context.Context) ([]store.Revocation, uint64, error) {
	if err := f.fault("LoadRevocations"); err != nil {
		return nil, 0, err
	}
	return f.inner.LoadRevocations(ctx)
}
