package driver

import (
	"context"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// ControllerPublishVolume implements csi.ControllerServer: make sure the
// disk is exported over NVMe/TCP, record the attachment, and hand the node
// the target to connect to (publish context).
func (cs *ControllerServer) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	id, nodeID := req.GetVolumeId(), req.GetNodeId()
	if err := validateID("volume_id", id); err != nil {
		return nil, err
	}
	if err := validateNodeID(nodeID); err != nil {
		return nil, err
	}
	c := req.GetVolumeCapability()
	if c == nil {
		return nil, invalidArg("volume_capability is required")
	}
	if p := capabilityProblem(c); p != "" {
		return nil, invalidArg("%s", p)
	}
	// The volume context is what CreateVolume returned; volumes of the
	// earlier driver carry the same key.
	address := req.GetVolumeContext()[CtxNVMeAddress]
	if address == "" {
		address = cs.cfg.DefaultNVMeAddress
	} else if err := validateHost(address); err != nil {
		return nil, invalidArg("volume_context %s: %v", CtxNVMeAddress, err)
	}
	if !isManagedVolumeID(id) {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", id)
	}
	logger := cs.logger(ctx).WithValues("volumeID", id, "nodeID", nodeID)
	release, err := cs.begin(id)
	if err != nil {
		return nil, err
	}
	defer release()

	v, err := cs.cfg.RDS.GetVolume(ctx, id)
	if err != nil {
		return nil, rdsStatus(err, "ControllerPublishVolume", id)
	}
	if cs.cfg.NodeExists != nil {
		ok, err := cs.cfg.NodeExists(ctx, nodeID)
		if err != nil {
			return nil, rdsStatus(err, "ControllerPublishVolume: node lookup", nodeID)
		}
		if !ok {
			return nil, status.Errorf(codes.NotFound, "node %s not found", nodeID)
		}
	}
	// Exporting first leaves no attachment record behind when the RDS
	// fails; an export that stays on after a refused publish is the normal
	// state of every volume anyway.
	if !v.Exported {
		if err := cs.cfg.RDS.SetExport(ctx, id, true); err != nil {
			return nil, rdsStatus(err, "ControllerPublishVolume: export", id)
		}
		logger.Info("Turned the NVMe/TCP export back on")
	}
	if err := cs.cfg.Attachments.Publish(ctx, id, nodeID, isMultiNode(c)); err != nil {
		return nil, rdsStatus(err, "ControllerPublishVolume", id)
	}
	port, nqn := v.NVMeTCPPort, v.NQN
	if port == 0 {
		port = rds.DefaultNVMeTCPPort
	}
	if nqn == "" {
		nqn = rds.NQNFor(id)
	}
	logger.V(2).Info("Published volume", "nvmeAddress", address, "nvmePort", port, "nqn", nqn)
	return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{
		PubNVMeAddress: address,
		PubNVMePort:    strconv.Itoa(port),
		PubNQN:         nqn,
	}}, nil
}

// ControllerUnpublishVolume implements csi.ControllerServer. It only
// forgets the attachment: the export stays on (another node, or the other
// side of a live migration, may still use it; the node plugin disconnects).
// Unknown volumes and nodes are success.
func (cs *ControllerServer) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	id, nodeID := req.GetVolumeId(), req.GetNodeId()
	if err := validateID("volume_id", id); err != nil {
		return nil, err
	}
	// CSI: an empty node id unpublishes from every node.
	if nodeID != "" {
		if err := validateNodeID(nodeID); err != nil {
			return nil, err
		}
	}
	if !isManagedVolumeID(id) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	// No RDS call, hence no connection gate: unpublishing works during an
	// outage. The lock still orders it against a concurrent publish.
	if !cs.locks.TryAcquire(id) {
		return nil, busy(id)
	}
	defer cs.locks.Release(id)
	if err := cs.cfg.Attachments.Unpublish(ctx, id, nodeID); err != nil {
		return nil, rdsStatus(err, "ControllerUnpublishVolume", id)
	}
	cs.logger(ctx).V(2).Info("Unpublished volume", "volumeID", id, "nodeID", nodeID)
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}
