package ratelimit

import (
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"unsafe"
)

// pointerIn returns the path to the first part of t that holds a pointer,
// or "" if there is none. Strings, slices, maps, interfaces, channels and
// funcs all hold pointers, so they count.
func pointerIn(t reflect.Type, path string) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		if t.Len() == 0 {
			return ""
		}
		return pointerIn(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p := pointerIn(f.Type, path+"."+f.Name); p != "" {
				return p
			}
		}
		return ""
	default:
		return fmt.Sprintf("%s (%s)", path, t)
	}
}

// The shard map's key and value must hold no pointers, or the collector
// would scan every tracked bucket on every cycle.
func TestShardMapHoldsNoPointers(t *testing.T) {
	m := reflect.TypeOf(shard{}.m)
	if m.Kind() != reflect.Map {
		t.Fatalf("shard.m is a %s, want a map", m)
	}
	tests := []struct {
		name string
		typ  reflect.Type
	}{
		{"map key", m.Key()},
		{"map value", m.Elem()},
		{"entry", reflect.TypeOf(entry{})},
		{"Global's bucket", reflect.TypeOf(Global{}.b)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p := pointerIn(tc.typ, tc.typ.Name()); p != "" {
				t.Fatalf("%s holds a pointer at %s", tc.typ, p)
			}
		})
	}
}

// pointerIn must find what it is looking for, or the test above proves
// nothing.
func TestPointerInFindsPointers(t *testing.T) {
	type inner struct {
		n int
		s string
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"plain struct", struct {
			a int64
			b float64
		}{}, ""},
		{"empty array of pointers", [0]*int{}, ""},
		{"pointer", new(int), "x (*int)"},
		{"unsafe pointer", unsafe.Pointer(nil), "x (unsafe.Pointer)"},
		{"string", "", "x (string)"},
		{"slice", []int(nil), "x ([]int)"},
		{"map", map[int]int(nil), "x (map[int]int)"},
		{"channel", (chan int)(nil), "x (chan int)"},
		{"func", (func())(nil), "x (func())"},
		{"interface in a struct", struct{ e error }{}, "x.e (error)"},
		{"string nested in an array of structs", [2]inner{}, "x[].s (string)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ := reflect.TypeOf(tc.v)
			if got := pointerIn(typ, "x"); got != tc.want {
				t.Fatalf("pointerIn(%s) = %q, want %q", typ, got, tc.want)
			}
		})
	}
}

// 100,000 keys must cost a few hundred heap objects (the maps'
// tables), not one or more per key. Keys are not kept, and entries live
// inside the map's own storage.
func TestKeyedHeapObjectsDoNotGrowPerKey(t *testing.T) {
	const nKeys = 100_000
	tests := []struct {
		name    string
		maxKeys int
		wantLen int
		// maxObjects is far below nKeys: one object per 50 keys at most.
		maxObjects uint64
	}{
		{"room for every key", 2 * nKeys, nKeys, nKeys / 50},
		// Evicting half the keys under pressure churns the maps; that
		// must not leave objects behind either.
		{"room for half the keys", nKeys / 2, nKeys / 2, nKeys / 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			buf := make([]byte, 0, 32)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)

			k := NewKeyed(KeyedConfig{MaxKeys: tc.maxKeys, Now: clk.Now})
			lim := Limit{PerSecond: 1, Burst: 2}
			for i := range nKeys {
				buf = strconv.AppendInt(append(buf[:0], "root-key-"...), int64(i), 10)
				if d := k.Allow(string(buf), lim); !d.OK {
					t.Fatalf("key %d: got %+v, want a fresh bucket to allow", i, d)
				}
			}

			runtime.GC()
			runtime.ReadMemStats(&after)
			if n := k.Len(); n != tc.wantLen {
				t.Fatalf("Len = %d, want %d", n, tc.wantLen)
			}
			objects := int64(after.HeapObjects) - int64(before.HeapObjects)
			t.Logf("%d keys: %d heap objects", nKeys, objects)
			if objects > int64(tc.maxObjects) {
				t.Fatalf("%d keys left %d more heap objects, want at most %d", nKeys, objects, tc.maxObjects)
			}
			runtime.KeepAlive(k)
		})
	}
}
