package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
)

// WriteText writes one line per finding, "path:line:column: ...", the shape
// editors and CI logs turn into links, then a summary. Notes go to notes,
// which may be the same writer; routine ones only when verbose.
func WriteText(w, notes io.Writer, r *Result, verbose bool) error {
	for _, f := range r.Findings {
		where := ""
		if f.Commit != "" {
			where = " in commit " + f.Commit
		}
		id := ""
		if f.KeyID != "" {
			id = " (key id " + f.KeyID + ")"
		}
		if _, err := fmt.Fprintf(w, "%s:%d:%d: %s%s%s: %s [%s confidence]\n", f.Path, f.Line, f.Column,
			describe(f.Rule), id, where, f.Redacted, f.Confidence); err != nil {
			return err
		}
	}
	skipped := 0
	for _, n := range r.Notes {
		if n.Reason.Routine() && !verbose {
			skipped++
			continue
		}
		detail := ""
		if n.Detail != "" {
			detail = ": " + n.Detail
		}
		if _, err := fmt.Fprintf(notes, "note: %s: skipped (%s)%s\n", n.Path, n.Reason, detail); err != nil {
			return err
		}
	}
	if skipped > 0 {
		if _, err := fmt.Fprintf(notes, "note: %d more skipped as binary, too large or not regular files (-v lists them)\n", skipped); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d finding(s) in %d file(s), %d bytes scanned\n", len(r.Findings), r.Files, r.Bytes)
	return err
}

func describe(r Rule) string {
	switch r {
	case RuleRootKey:
		return "Latchkey root key"
	case RuleNearMiss:
		return "root-key look-alike with a bad checksum"
	default:
		return "high-entropy string"
	}
}

// SARIFSchema is the schema URI written into SARIF logs.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration map[string]string `json:"defaultConfiguration"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
	EndColumn   int `json:"endColumn"`
}

var sarifRules = []struct {
	rule  Rule
	name  string
	level string
	help  string
}{
	{RuleRootKey, "LeakedRootKey", "error", "A valid Latchkey root key is committed or stored in plain text. Revoke it (latchkey scan --revoke or latchkey keys revoke KEY_ID --reason leaked), issue a new key, and remove the text."},
	{RuleNearMiss, "RootKeyLookAlike", "warning", "Text with the shape of a Latchkey root key but a wrong checksum: a damaged copy of a real key, or an example. Check whether a real key was meant."},
	{RuleHighEntropy, "HighEntropyString", "note", "A random-looking token that may be a secret of another kind. Low confidence."},
}

// WriteSARIF writes r as a SARIF 2.1.0 log for code-scanning tools.
func WriteSARIF(w io.Writer, r *Result) error {
	driver := sarifDriver{Name: "latchkey", InformationURI: "https://github.com/latchkeyhq/latchkey"}
	index := map[Rule]int{}
	level := map[Rule]string{}
	for i, sr := range sarifRules {
		index[sr.rule], level[sr.rule] = i, sr.level
		driver.Rules = append(driver.Rules, sarifRule{ID: string(sr.rule), Name: sr.name,
			ShortDescription: sarifText{describe(sr.rule)}, Help: sarifText{sr.help},
			DefaultConfiguration: map[string]string{"level": sr.level}})
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		msg := describe(f.Rule) + " " + f.Redacted
		if f.KeyID != "" {
			msg += " (key id " + f.KeyID + ")"
		}
		res := sarifResult{RuleID: string(f.Rule), RuleIndex: index[f.Rule], Level: level[f.Rule],
			Message: sarifText{msg},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(f.Path)},
				Region:           sarifRegion{StartLine: f.Line, StartColumn: f.Column, EndColumn: f.Column + f.Length},
			}}},
			PartialFingerprints: map[string]string{"latchkeyFinding/v1": fingerprint(f)},
		}
		if f.Commit != "" {
			res.Properties = map[string]string{"commit": f.Commit}
		}
		results = append(results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: SARIFSchema, Version: "2.1.0",
		Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}}})
}

// fingerprint stays the same while a key stays in a file, even as lines
// move, so code-scanning tools track one alert. It hashes only public
// parts: a key's id and redacted form, never a secret.
func fingerprint(f Finding) string {
	h := sha256.New()
	what := f.KeyID + "\x00" + f.Redacted
	if f.Rule == RuleHighEntropy {
		what = strconv.Itoa(f.Line) + ":" + strconv.Itoa(f.Column)
	}
	for _, s := range []string{string(f.Rule), f.Path, what} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
