package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// IdentityServer answers the CSI identity service for both plugin modes.
type IdentityServer struct {
	csi.UnimplementedIdentityServer

	name, version string
	capabilities  []*csi.PluginCapability
	ready         func() bool
}

var _ csi.IdentityServer = (*IdentityServer)(nil)

// NewIdentityServer returns the identity service. hasController adds the
// CONTROLLER_SERVICE capability. ready backs Probe in controller mode: it
// must be a cheap, non-blocking read (the connection FSM's Connected()),
// because the livenessprobe and the sidecars call Probe often and a Probe
// that did I/O would turn an RDS outage into timeouts. In node-only mode,
// or when ready is nil, Probe always reports ready: the node plugin needs
// no RDS connection.
//
// Options add capabilities: WithTopology advertises
// VOLUME_ACCESSIBILITY_CONSTRAINTS (RDS units or nodes with a topology).
func NewIdentityServer(driverName, version string, hasController bool, ready func() bool, opts ...IdentityOption) *IdentityServer {
	caps := []*csi.PluginCapability{{
		Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{
			Type: csi.PluginCapability_VolumeExpansion_ONLINE,
		}},
	}}
	if hasController {
		caps = append(caps, &csi.PluginCapability{
			Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{
				Type: csi.PluginCapability_Service_CONTROLLER_SERVICE,
			}},
		})
	} else {
		ready = nil
	}
	s := &IdentityServer{name: driverName, version: version, capabilities: caps, ready: ready}
	for _, o := range opts {
		o(s)
	}
	return s
}

// IdentityOption adds to the identity service.
type IdentityOption func(*IdentityServer)

// WithTopology advertises VOLUME_ACCESSIBILITY_CONSTRAINTS. Only with a
// topology configured: the external-provisioner then asks nodes for their
// segments, which nodes without --node-topology do not have.
func WithTopology() IdentityOption {
	return func(s *IdentityServer) {
		s.capabilities = append(s.capabilities, &csi.PluginCapability{
			Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{
				Type: csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS,
			}},
		})
	}
}

// GetPluginInfo implements csi.IdentityServer.
func (s *IdentityServer) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: s.name, VendorVersion: s.version}, nil
}

// GetPluginCapabilities implements csi.IdentityServer.
func (s *IdentityServer) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: s.capabilities}, nil
}

// Probe implements csi.IdentityServer. Not ready is an answer, not an error:
// the sidecars keep waiting instead of failing.
func (s *IdentityServer) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	ready := s.ready == nil || s.ready()
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(ready)}, nil
}
