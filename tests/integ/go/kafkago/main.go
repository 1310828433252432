// kafkago: the integration suite's driver for segmentio/kafka-go 0.2.1
// (Debian's golang-github-segmentio-kafka-go-dev), built by conftest-style
// helpers in test_go_clients.py with GO111MODULE=off GOPATH=/usr/share/gocode.
//
// kafka-go 0.2.1 produces with Produce v2 (magic 1 message sets) and
// consumes with Fetch v2, so it reads only what the broker down-converts.
//
//	kafkago produce BOOTSTRAP TOPIC N [none|gzip|snappy|lz4]
//	    N messages key k<i>, value v<i> (one batch per call)
//	kafkago read BOOTSTRAP TOPIC PARTITION OFFSET N
//	    N messages from OFFSET, one JSON line each
//	kafkago group BOOTSTRAP TOPIC GROUP N
//	    N messages of a consumer group, each committed (synchronously)
//	    before the next is read; one JSON line each
//
// Every command stops within its deadline (40 s) and exits non-zero on an
// error.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
	gz "github.com/segmentio/kafka-go/gzip"
)

type out struct {
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       []byte `json:"key"`
	Value     []byte `json:"value"`
	Time      int64  `json:"time_ms"`
}

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "kafkago: "+f+"\n", a...)
	os.Exit(1)
}

func emit(m kafka.Message) {
	b, _ := json.Marshal(out{m.Partition, m.Offset, m.Key, m.Value, m.Time.UnixNano() / 1e6})
	fmt.Println(string(b))
}

func main() {
	if len(os.Args) < 4 {
		die("usage: produce|read|group ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	bootstrap, topic := os.Args[2], os.Args[3]
	switch os.Args[1] {
	case "produce":
		n, _ := strconv.Atoi(os.Args[4])
		cfg := kafka.WriterConfig{Brokers: []string{bootstrap}, Topic: topic, Balancer: &kafka.LeastBytes{},
			BatchSize: n, BatchTimeout: 50 * time.Millisecond, RequiredAcks: -1}
		if len(os.Args) > 5 {
			switch os.Args[5] {
			case "gzip":
				cfg.CompressionCodec = gz.NewCompressionCodec()
			case "snappy":
				cfg.CompressionCodec = snappy.NewCompressionCodec()
			case "lz4":
				cfg.CompressionCodec = lz4.NewCompressionCodec()
			}
		}
		w := kafka.NewWriter(cfg)
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			die("write: %v", err)
		}
		if err := w.Close(); err != nil {
			die("close: %v", err)
		}
		fmt.Println(`{"written":` + strconv.Itoa(n) + `}`)
	case "read":
		part, _ := strconv.Atoi(os.Args[4])
		off, _ := strconv.ParseInt(os.Args[5], 10, 64)
		n, _ := strconv.Atoi(os.Args[6])
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootstrap}, Topic: topic, Partition: part,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
		if err := r.SetOffset(off); err != nil {
			die("offset: %v", err)
		}
		for i := 0; i < n; i++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				die("read %d: %v", i, err)
			}
			emit(m)
		}
		r.Close()
	case "group":
		group := os.Args[4]
		n, _ := strconv.Atoi(os.Args[5])
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootstrap}, Topic: topic, GroupID: group,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond,
			SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second})
		for i := 0; i < n; i++ {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				die("fetch %d: %v", i, err)
			}
			if err := r.CommitMessages(ctx, m); err != nil {
				die("commit %d: %v", i, err)
			}
			emit(m)
		}
		if err := r.Close(); err != nil {
			die("close: %v", err)
		}
	default:
		die("unknown command %s", os.Args[1])
	}
}
