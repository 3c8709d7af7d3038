// vf-bolt: qrysm's validator.db (slashing protection) through the real bbolt
// library, for the lab (a validator that holds its DB open and locked) and for
// cross-checking validator-failover's own reader and writer.
//
// Modes:
//
//	vf-bolt hold PATH [--genesis-root 0xHEX64]   open as qrysm does, print "ready",
//	                                              then one JSON op per stdin line
//	vf-bolt dump PATH                            the history as JSON (read-only)
//	vf-bolt write PATH                           a fresh DB from dump JSON on stdin
//	vf-bolt bulk PATH --keys K --epochs E        a large realistic DB, quickly
//	vf-bolt check PATH                           bbolt's tx.Check(), exit 0/1
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 lock timeout, 4 genesis root mismatch.
//
// The schema, bucket for bucket, is qrysm's validator/db/kv (schema.go, db.go,
// attester_protection.go, proposer_protection.go, genesis.go).
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	genesisInfoBucket                  = []byte("genesis-info-bucket")
	historicProposalsBucket            = []byte("proposal-history-bucket-interchange")
	deprecatedAttestationHistoryBucket = []byte("attestation-history-bucket-interchange")
	lowestSignedSourceBucket           = []byte("lowest-signed-source-bucket")
	lowestSignedTargetBucket           = []byte("lowest-signed-target-bucket")
	lowestSignedProposalsBucket        = []byte("lowest-signed-proposals-bucket")
	highestSignedProposalsBucket       = []byte("highest-signed-proposals-bucket")
	slashablePublicKeysBucket          = []byte("slashable-public-keys")
	genesisValidatorsRootKey           = []byte("genesis-val-root")
	pubKeysBucket                      = []byte("pubkeys-bucket")
	attestationSigningRootsBucket      = []byte("att-signing-roots-bucket")
	attestationSourceEpochsBucket      = []byte("att-source-epochs-bucket")
	attestationTargetEpochsBucket      = []byte("att-target-epochs-bucket")
	migrationsBucket                   = []byte("migrations")
	graffitiBucket                     = []byte("graffiti")
	proposerSettingsBucket             = []byte("proposer-settings-bucket")
)

// The buckets NewKVStore creates at open, in its order.
var kvStoreBuckets = [][]byte{
	genesisInfoBucket,
	deprecatedAttestationHistoryBucket,
	historicProposalsBucket,
	lowestSignedSourceBucket,
	lowestSignedTargetBucket,
	lowestSignedProposalsBucket,
	highestSignedProposalsBucket,
	slashablePublicKeysBucket,
	pubKeysBucket,
	migrationsBucket,
	graffitiBucket,
	proposerSettingsBucket,
}

const (
	pubKeyLen = 2592 // dilithium2.CryptoPublicKeyBytes
	rootLen   = 32
	// qrysm's mainnet config: pruneProposalHistoryBySlot.
	slotsPerEpoch          = 128
	weakSubjectivityPeriod = 54000
	// qrysm's kv.mmapSize and params.BeaconIoConfig().BoltTimeout.
	mmapSize    = 536870912
	boltTimeout = time.Second
	lockMessage = "cannot obtain database lock, database may be in use by another process"
)

func die(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "vf-bolt: "+format+"\n", args...)
	os.Exit(code)
}

func openErr(err error) {
	if errors.Is(err, bolt.ErrTimeout) {
		fmt.Fprintln(os.Stderr, lockMessage)
		os.Exit(3)
	}
	die(1, "%v", err)
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func decodeHex(s string, want int, what string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: not hex: %v", what, err)
	}
	if want >= 0 && len(b) != want {
		return nil, fmt.Errorf("%s: %d bytes, want %d", what, len(b), want)
	}
	return b, nil
}

func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

func createBuckets(tx *bolt.Tx) error {
	for _, name := range kvStoreBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// saveGenesis is qrysm's SaveGenesisValidatorsRoot, except that storing the same
// root again is not an error. It returns errGenesisMismatch when another is stored.
var errGenesisMismatch = errors.New("genesis validators root mismatch")

func saveGenesis(tx *bolt.Tx, root []byte) error {
	bkt := tx.Bucket(genesisInfoBucket)
	if enc := bkt.Get(genesisValidatorsRootKey); len(enc) != 0 {
		if bytes.Equal(enc, root) {
			return nil
		}
		return fmt.Errorf("%w: cannot overwrite existing genesis validators root: %#x", errGenesisMismatch, enc)
	}
	return bkt.Put(genesisValidatorsRootKey, root)
}

// saveAttestation is one record of qrysm's saveAttestationRecords.
func saveAttestation(tx *bolt.Tx, pubKey []byte, source, target uint64, root []byte) error {
	lowestSourceBucket, err := tx.CreateBucketIfNotExists(lowestSignedSourceBucket)
	if err != nil {
		return err
	}
	lowestTargetBucket, err := tx.CreateBucketIfNotExists(lowestSignedTargetBucket)
	if err != nil {
		return err
	}
	bucket := tx.Bucket(pubKeysBucket)
	pkBucket, err := bucket.CreateBucketIfNotExists(pubKey)
	if err != nil {
		return fmt.Errorf("could not create public key bucket: %v", err)
	}
	sourceEpochBytes := be64(source)
	targetEpochBytes := be64(target)
	signingRootsBucket, err := pkBucket.CreateBucketIfNotExists(attestationSigningRootsBucket)
	if err != nil {
		return err
	}
	if err := signingRootsBucket.Put(targetEpochBytes, root); err != nil {
		return err
	}
	sourceEpochsBucket, err := pkBucket.CreateBucketIfNotExists(attestationSourceEpochsBucket)
	if err != nil {
		return err
	}
	var targets []byte
	if existing := sourceEpochsBucket.Get(sourceEpochBytes); existing != nil {
		targets = append(append([]byte{}, existing...), targetEpochBytes...)
	} else {
		targets = targetEpochBytes
	}
	if err := sourceEpochsBucket.Put(sourceEpochBytes, targets); err != nil {
		return err
	}
	targetEpochsBucket, err := pkBucket.CreateBucketIfNotExists(attestationTargetEpochsBucket)
	if err != nil {
		return err
	}
	var sources []byte
	if existing := targetEpochsBucket.Get(targetEpochBytes); existing != nil {
		sources = append(append([]byte{}, existing...), sourceEpochBytes...)
	} else {
		sources = sourceEpochBytes
	}
	if err := targetEpochsBucket.Put(targetEpochBytes, sources); err != nil {
		return err
	}
	if b := lowestSourceBucket.Get(pubKey); len(b) == 0 || (len(b) >= 8 && source < binary.BigEndian.Uint64(b)) {
		if err := lowestSourceBucket.Put(pubKey, sourceEpochBytes); err != nil {
			return err
		}
	}
	if b := lowestTargetBucket.Get(pubKey); len(b) == 0 || (len(b) >= 8 && target < binary.BigEndian.Uint64(b)) {
		if err := lowestTargetBucket.Put(pubKey, targetEpochBytes); err != nil {
			return err
		}
	}
	return nil
}

// saveProposal is qrysm's SaveProposalHistoryForSlot (with its pruning).
func saveProposal(tx *bolt.Tx, pubKey []byte, slot uint64, root []byte, prune bool) error {
	valBucket, err := tx.Bucket(historicProposalsBucket).CreateBucketIfNotExists(pubKey)
	if err != nil {
		return fmt.Errorf("could not create bucket for public key %#x", pubKey)
	}
	lowest := tx.Bucket(lowestSignedProposalsBucket)
	if b := lowest.Get(pubKey); len(b) == 0 || (len(b) >= 8 && slot < binary.BigEndian.Uint64(b)) {
		if err := lowest.Put(pubKey, be64(slot)); err != nil {
			return err
		}
	}
	highest := tx.Bucket(highestSignedProposalsBucket)
	if b := highest.Get(pubKey); len(b) == 0 || (len(b) >= 8 && slot > binary.BigEndian.Uint64(b)) {
		if err := highest.Put(pubKey, be64(slot)); err != nil {
			return err
		}
	}
	if err := valBucket.Put(be64(slot), root); err != nil {
		return err
	}
	if !prune {
		return nil
	}
	c := valBucket.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		epoch := binary.BigEndian.Uint64(k) / slotsPerEpoch
		if epoch+weakSubjectivityPeriod <= slot/slotsPerEpoch {
			if err := c.Delete(); err != nil {
				return err
			}
		} else {
			break
		}
	}
	return nil
}

// ---- hold ----

type op struct {
	Op     string  `json:"op"`
	Pubkey string  `json:"pubkey"`
	Source *uint64 `json:"source"`
	Target *uint64 `json:"target"`
	Slot   *uint64 `json:"slot"`
	Root   string  `json:"root"`
}

func applyOp(db *bolt.DB, line []byte) error {
	var o op
	if err := json.Unmarshal(line, &o); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if o.Op != "genesis" && o.Op != "attest" && o.Op != "propose" {
		return fmt.Errorf("unknown op %q", o.Op)
	}
	root, err := decodeHex(o.Root, rootLen, "root")
	if err != nil {
		return err
	}
	switch o.Op {
	case "genesis":
		return db.Update(func(tx *bolt.Tx) error { return saveGenesis(tx, root) })
	case "attest":
		pk, err := decodeHex(o.Pubkey, pubKeyLen, "pubkey")
		if err != nil {
			return err
		}
		if o.Source == nil || o.Target == nil {
			return errors.New("attest needs source and target")
		}
		return db.Update(func(tx *bolt.Tx) error { return saveAttestation(tx, pk, *o.Source, *o.Target, root) })
	case "propose":
		pk, err := decodeHex(o.Pubkey, pubKeyLen, "pubkey")
		if err != nil {
			return err
		}
		if o.Slot == nil {
			return errors.New("propose needs slot")
		}
		return db.Update(func(tx *bolt.Tx) error { return saveProposal(tx, pk, *o.Slot, root, true) })
	default:
		return fmt.Errorf("unknown op %q", o.Op)
	}
}

func hold(path string, genesis []byte) {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	db, err := bolt.Open(path, 0600, &bolt.Options{Timeout: boltTimeout, InitialMmapSize: mmapSize})
	if err != nil {
		openErr(err)
	}
	if err := db.Update(createBuckets); err != nil {
		die(1, "%v", err)
	}
	if genesis != nil {
		if err := db.Update(func(tx *bolt.Tx) error { return saveGenesis(tx, genesis) }); err != nil {
			db.Close()
			if errors.Is(err, errGenesisMismatch) {
				die(4, "%v", err)
			}
			die(1, "%v", err)
		}
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 16<<20)
	for in.Scan() {
		line := bytes.TrimSpace(in.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := applyOp(db, line); err != nil {
			fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Fprintln(out, "ok")
		}
		out.Flush()
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "vf-bolt: stdin: %v\n", err)
	}
	if err := db.Close(); err != nil {
		die(1, "close: %v", err)
	}
}

// ---- dump / write ----

type attJSON struct {
	Source      uint64  `json:"source"`
	Target      uint64  `json:"target"`
	SigningRoot *string `json:"signing_root"`
}

type propJSON struct {
	Slot        uint64 `json:"slot"`
	SigningRoot string `json:"signing_root"`
}

type keyJSON struct {
	Attestations          []attJSON  `json:"attestations"`
	Proposals             []propJSON `json:"proposals"`
	LowestSignedSource    *uint64    `json:"lowest_signed_source"`
	LowestSignedTarget    *uint64    `json:"lowest_signed_target"`
	HighestSignedProposal *uint64    `json:"highest_signed_proposal"`
	LowestSignedProposal  *uint64    `json:"lowest_signed_proposal"`
}

type dumpJSON struct {
	GenesisValidatorsRoot *string             `json:"genesis_validators_root"`
	Keys                  map[string]*keyJSON `json:"keys"`
}

func u64p(b []byte) *uint64 {
	if len(b) < 8 {
		return nil
	}
	v := binary.BigEndian.Uint64(b)
	return &v
}

func dump(path string) {
	db, err := bolt.Open(path, 0600, &bolt.Options{ReadOnly: true, Timeout: boltTimeout})
	if err != nil {
		openErr(err)
	}
	defer db.Close()
	d := dumpJSON{Keys: map[string]*keyJSON{}}
	key := func(pk []byte) *keyJSON {
		h := hex0x(pk)
		k := d.Keys[h]
		if k == nil {
			k = &keyJSON{Attestations: []attJSON{}, Proposals: []propJSON{}}
			d.Keys[h] = k
		}
		return k
	}
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(genesisInfoBucket); b != nil {
			if r := b.Get(genesisValidatorsRootKey); len(r) != 0 {
				s := hex0x(r)
				d.GenesisValidatorsRoot = &s
			}
		}
		if b := tx.Bucket(pubKeysBucket); b != nil {
			if err := b.ForEach(func(pk, v []byte) error {
				k := key(pk)
				pkb := b.Bucket(pk)
				if pkb == nil {
					return fmt.Errorf("pubkeys-bucket: %x is a value, not a bucket", pk)
				}
				roots := pkb.Bucket(attestationSigningRootsBucket)
				if targets := pkb.Bucket(attestationTargetEpochsBucket); targets != nil {
					if err := targets.ForEach(func(t, sources []byte) error {
						target := binary.BigEndian.Uint64(t)
						var root *string
						if roots != nil {
							if r := roots.Get(t); r != nil {
								s := hex0x(r)
								root = &s
							}
						}
						for i := 0; i+8 <= len(sources); i += 8 {
							k.Attestations = append(k.Attestations, attJSON{binary.BigEndian.Uint64(sources[i : i+8]), target, root})
						}
						return nil
					}); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if b := tx.Bucket(historicProposalsBucket); b != nil {
			if err := b.ForEach(func(pk, _ []byte) error {
				k := key(pk)
				if vb := b.Bucket(pk); vb != nil {
					return vb.ForEach(func(slot, root []byte) error {
						k.Proposals = append(k.Proposals, propJSON{binary.BigEndian.Uint64(slot), hex0x(root)})
						return nil
					})
				}
				return nil
			}); err != nil {
				return err
			}
		}
		for _, one := range []struct {
			name []byte
			set  func(*keyJSON, *uint64)
		}{
			{lowestSignedSourceBucket, func(k *keyJSON, v *uint64) { k.LowestSignedSource = v }},
			{lowestSignedTargetBucket, func(k *keyJSON, v *uint64) { k.LowestSignedTarget = v }},
			{highestSignedProposalsBucket, func(k *keyJSON, v *uint64) { k.HighestSignedProposal = v }},
			{lowestSignedProposalsBucket, func(k *keyJSON, v *uint64) { k.LowestSignedProposal = v }},
		} {
			if b := tx.Bucket(one.name); b != nil {
				_ = b.ForEach(func(pk, v []byte) error {
					one.set(key(pk), u64p(v))
					return nil
				})
			}
		}
		return nil
	})
	if err != nil {
		die(1, "%v", err)
	}
	for _, k := range d.Keys {
		sort.SliceStable(k.Attestations, func(i, j int) bool {
			a, b := k.Attestations[i], k.Attestations[j]
			return a.Target < b.Target || (a.Target == b.Target && a.Source < b.Source)
		})
	}
	// encoding/json sorts map keys.
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(d); err != nil {
		die(1, "%v", err)
	}
}

func openFresh(path string) *bolt.DB {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		die(1, "%v", err)
	}
	db, err := bolt.Open(path, 0600, &bolt.Options{Timeout: boltTimeout, InitialMmapSize: mmapSize})
	if err != nil {
		openErr(err)
	}
	db.NoSync = true
	if err := db.Update(createBuckets); err != nil {
		die(1, "%v", err)
	}
	return db
}

func closeSynced(db *bolt.DB) {
	db.NoSync = false
	if err := db.Sync(); err != nil {
		die(1, "sync: %v", err)
	}
	if err := db.Close(); err != nil {
		die(1, "close: %v", err)
	}
}

func putU64(tx *bolt.Tx, bucket, pk []byte, v *uint64) error {
	if v == nil {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return err
	}
	return b.Put(pk, be64(*v))
}

func write(path string) {
	var d dumpJSON
	dec := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 1<<20))
	if err := dec.Decode(&d); err != nil {
		die(1, "stdin: %v", err)
	}
	db := openFresh(path)
	const batch = 20000
	err := db.Update(func(tx *bolt.Tx) error {
		if d.GenesisValidatorsRoot != nil {
			r, err := decodeHex(*d.GenesisValidatorsRoot, -1, "genesis_validators_root")
			if err != nil {
				return err
			}
			return saveGenesis(tx, r)
		}
		return nil
	})
	if err != nil {
		die(1, "%v", err)
	}
	names := make([]string, 0, len(d.Keys))
	for n := range d.Keys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		k := d.Keys[name]
		pk, err := decodeHex(name, -1, "key")
		if err != nil {
			die(1, "%v", err)
		}
		for i := 0; i < len(k.Attestations) || i == 0; i += batch {
			end := i + batch
			if end > len(k.Attestations) {
				end = len(k.Attestations)
			}
			err := db.Update(func(tx *bolt.Tx) error {
				pkb, err := tx.Bucket(pubKeysBucket).CreateBucketIfNotExists(pk)
				if err != nil {
					return err
				}
				if len(k.Attestations) == 0 {
					return nil
				}
				roots, _ := pkb.CreateBucketIfNotExists(attestationSigningRootsBucket)
				srcs, _ := pkb.CreateBucketIfNotExists(attestationSourceEpochsBucket)
				tgts, err := pkb.CreateBucketIfNotExists(attestationTargetEpochsBucket)
				if err != nil {
					return err
				}
				for _, a := range k.Attestations[i:end] {
					if a.SigningRoot != nil {
						r, err := decodeHex(*a.SigningRoot, -1, "signing_root")
						if err != nil {
							return err
						}
						if err := roots.Put(be64(a.Target), r); err != nil {
							return err
						}
					}
					t := be64(a.Target)
					s := be64(a.Source)
					if err := srcs.Put(s, append(append([]byte{}, srcs.Get(s)...), t...)); err != nil {
						return err
					}
					if err := tgts.Put(t, append(append([]byte{}, tgts.Get(t)...), s...)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				die(1, "%s: %v", name, err)
			}
		}
		err = db.Update(func(tx *bolt.Tx) error {
			if len(k.Proposals) > 0 {
				vb, err := tx.Bucket(historicProposalsBucket).CreateBucketIfNotExists(pk)
				if err != nil {
					return err
				}
				for _, p := range k.Proposals {
					r, err := decodeHex(p.SigningRoot, -1, "signing_root")
					if err != nil {
						return err
					}
					if err := vb.Put(be64(p.Slot), r); err != nil {
						return err
					}
				}
			}
			for _, one := range []struct {
				bucket []byte
				v      *uint64
			}{
				{lowestSignedSourceBucket, k.LowestSignedSource},
				{lowestSignedTargetBucket, k.LowestSignedTarget},
				{highestSignedProposalsBucket, k.HighestSignedProposal},
				{lowestSignedProposalsBucket, k.LowestSignedProposal},
			} {
				if err := putU64(tx, one.bucket, pk, one.v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			die(1, "%s: %v", name, err)
		}
	}
	closeSynced(db)
}

// ---- bulk: a large realistic DB, quickly ----

func bulk(path string, keys, epochs, proposalsEvery uint64) {
	db := openFresh(path)
	if err := db.Update(func(tx *bolt.Tx) error {
		return saveGenesis(tx, bytes.Repeat([]byte{0x4b}, rootLen))
	}); err != nil {
		die(1, "%v", err)
	}
	const batch = 50000
	for k := uint64(0); k < keys; k++ {
		seed := sha256.Sum256(be64(k))
		pk := bytes.Repeat(seed[:], pubKeyLen/rootLen)
		for start := uint64(0); start < epochs; start += batch {
			end := start + batch
			if end > epochs {
				end = epochs
			}
			err := db.Update(func(tx *bolt.Tx) error {
				for e := start; e < end; e++ {
					source := uint64(0)
					if e > 0 {
						source = e - 1
					}
					root := sha256.Sum256(append(append([]byte{}, seed[:]...), be64(e)...))
					if err := saveAttestation(tx, pk, source, e, root[:]); err != nil {
						return err
					}
					if proposalsEvery > 0 && e%proposalsEvery == 0 {
						if err := saveProposal(tx, pk, e*slotsPerEpoch+k%slotsPerEpoch, root[:], false); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				die(1, "key %d: %v", k, err)
			}
		}
	}
	closeSynced(db)
}

// ---- check ----

func check(path string) {
	db, err := bolt.Open(path, 0600, &bolt.Options{ReadOnly: true, Timeout: boltTimeout})
	if err != nil {
		openErr(err)
	}
	defer db.Close()
	bad := 0
	_ = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			fmt.Fprintln(os.Stderr, err)
			bad++
		}
		return nil
	})
	if bad > 0 {
		db.Close()
		die(1, "%s: %d consistency errors", path, bad)
	}
	fmt.Println("ok")
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  vf-bolt hold PATH [--genesis-root 0xHEX64]
  vf-bolt dump PATH
  vf-bolt write PATH < dump.json
  vf-bolt bulk PATH --keys K --epochs E [--proposals-every N]
  vf-bolt check PATH`)
	os.Exit(2)
}

func flagU64(args []string, name string, def uint64) uint64 {
	for i := 0; i < len(args); i++ {
		if args[i] == name && i+1 < len(args) {
			v, err := strconv.ParseUint(args[i+1], 10, 64)
			if err != nil {
				die(2, "%s: %v", name, err)
			}
			return v
		}
	}
	return def
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	mode, path, rest := os.Args[1], os.Args[2], os.Args[3:]
	switch mode {
	case "hold":
		var genesis []byte
		for i := 0; i < len(rest); i++ {
			if rest[i] == "--genesis-root" && i+1 < len(rest) {
				g, err := decodeHex(rest[i+1], rootLen, "--genesis-root")
				if err != nil {
					die(2, "%v", err)
				}
				genesis = g
				i++
			} else {
				usage()
			}
		}
		hold(path, genesis)
	case "dump":
		dump(path)
	case "write":
		write(path)
	case "bulk":
		bulk(path, flagU64(rest, "--keys", 4), flagU64(rest, "--epochs", 1000), flagU64(rest, "--proposals-every", 32))
	case "check":
		check(path)
	default:
		usage()
	}
}
