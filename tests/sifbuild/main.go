// sifbuild makes a SIF image with the reference implementation (github.com/sylabs/sif/v2) and prints, as
// JSON, what that implementation reads back from it: the header and each object with the sha256 of its
// bytes. paperlink's tests compare paperlink.containers.sif.read_sif with this.
//
// Usage: sifbuild OUT.sif ROOTFS.squashfs DEFFILE LABELS.json UNIX-TIME
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/sylabs/sif/v2/pkg/sif"
)

type object struct {
	ID     uint32 `json:"id"`
	Group  uint32 `json:"group"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"`
	SHA256 string `json:"sha256"`
	FS     string `json:"fs,omitempty"`
	Part   string `json:"part,omitempty"`
	Arch   string `json:"arch,omitempty"`
}

func input(t sif.DataType, path string, opts ...sif.DescriptorInputOpt) sif.DescriptorInput {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	di, err := sif.NewDescriptorInput(t, bytes.NewReader(b), opts...)
	if err != nil {
		log.Fatal(err)
	}
	return di
}

func main() {
	if len(os.Args) != 6 {
		log.Fatal("usage: sifbuild OUT.sif ROOTFS.squashfs DEFFILE LABELS.json UNIX-TIME")
	}
	seconds, err := strconv.ParseInt(os.Args[5], 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	when := time.Unix(seconds, 0).UTC()
	f, err := sif.CreateContainerAtPath(os.Args[1],
		sif.OptCreateWithID("5d6e1cdb-6a0c-4d2e-9f1a-0b7e3c1d2a4f"),
		sif.OptCreateWithTime(when),
		sif.OptCreateWithLaunchScript("#!/usr/bin/env run-singularity\n"),
		sif.OptCreateWithDescriptors(
			input(sif.DataDeffile, os.Args[3]),
			input(sif.DataLabels, os.Args[4]),
			input(sif.DataPartition, os.Args[2],
				sif.OptPartitionMetadata(sif.FsSquash, sif.PartPrimSys, "amd64")),
		),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := f.UnloadContainer(); err != nil {
		log.Fatal(err)
	}
	g, err := sif.LoadContainerFromPath(os.Args[1], sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		log.Fatal(err)
	}
	defer g.UnloadContainer()
	var objects []object
	descriptors, err := g.GetDescriptors()
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range descriptors {
		data, err := d.GetData()
		if err != nil {
			log.Fatal(err)
		}
		sum := sha256.Sum256(data)
		o := object{ID: d.ID(), Group: d.GroupID(), Type: d.DataType().String(), Size: d.Size(),
			Offset: d.Offset(), SHA256: hex.EncodeToString(sum[:])}
		if d.DataType() == sif.DataPartition {
			fs, pt, arch, err := d.PartitionMetadata()
			if err != nil {
				log.Fatal(err)
			}
			o.FS, o.Part, o.Arch = fs.String(), pt.String(), arch
		}
		objects = append(objects, o)
	}
	out := map[string]interface{}{
		"id": g.ID(), "version": g.Version(), "arch": g.PrimaryArch(),
		"created": g.CreatedAt().UTC().Format(time.RFC3339), "launch_script": g.LaunchScript(),
		"objects": objects,
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
}
