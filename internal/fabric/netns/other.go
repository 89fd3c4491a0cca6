//go:build !linux

// Package netns is the fabric of real packets; it runs on Linux only.
package netns

import (
	"errors"
	"io"
	"runtime"

	"securetrain/internal/fabric"
)

// Supported says why the netns fabric cannot run here.
func Supported() error {
	return errors.New("the netns fabric needs Linux (network namespaces, nftables); this is " + runtime.GOOS + ": use --fabric sim")
}

// Fabric is not available off Linux.
type Fabric struct{ fabric.Fabric }

// New refuses: the netns fabric needs Linux.
func New(Config) (*Fabric, error) { return nil, Supported() }

// Prefix is empty: there are no namespaces.
func (f *Fabric) Prefix() string { return "" }

// Close does nothing.
func (f *Fabric) Close() error { return nil }

// Cleanup refuses: there is nothing to clean off Linux.
func Cleanup(string) ([]string, error) { return nil, Supported() }

// Status refuses: there is no fabric off Linux.
func Status(string) ([]Namespace, error) { return nil, Supported() }

// AgentMain refuses: there are no node namespaces off Linux.
func AgentMain(io.Reader, io.Writer) error { return Supported() }
