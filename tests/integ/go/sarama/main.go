// saramacli: the integration suite's driver for Shopify/sarama 1.22.1
// (Debian's golang-github-shopify-sarama-dev) at its highest protocol
// level, config.Version = sarama.MaxVersion (2.2.0), built by
// test_go_clients.py with GO111MODULE=off GOPATH=/usr/share/gocode.
//
//	saramacli produce  BOOTSTRAP TOPIC N CODEC   N messages with a header, synchronous producer
//	saramacli consume  BOOTSTRAP TOPIC N         N messages of partition 0 from the oldest
//	saramacli group    BOOTSTRAP TOPIC GROUP N   N messages of a consumer group, marked and committed
//	saramacli offsets  BOOTSTRAP TOPIC GROUP OFF the offset manager: commit OFF for partition 0,
//	                                             then read it back with a new manager
//	saramacli admin    BOOTSTRAP TOPIC           create the topic, alter and describe its configs
//	                                             (legacy AlterConfigs), describe the cluster, delete it
//
// Output: one JSON line per message or result.  Every command stops within
// 40 s and exits non-zero on an error.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "saramacli: "+f+"\n", a...)
	os.Exit(1)
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.MaxVersion
	c.ClientID = "saramacli"
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = time.Second
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	return c
}

type msg struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers"`
}

func emit(m *sarama.ConsumerMessage) {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[string(x.Key)] = string(x.Value)
	}
	b, _ := json.Marshal(msg{m.Partition, m.Offset, string(m.Key), string(m.Value), h})
	fmt.Println(string(b))
}

type handler struct {
	left int
	mu   sync.Mutex
	done chan struct{}
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		if h.left > 0 {
			emit(m)
			s.MarkMessage(m, "")
			h.left--
			if h.left == 0 {
				close(h.done)
			}
		}
		h.mu.Unlock()
	}
	return nil
}

func main() {
	if len(os.Args) < 4 {
		die("usage: produce|consume|group|offsets|admin BOOTSTRAP TOPIC ...")
	}
	go func() {
		time.Sleep(40 * time.Second)
		die("deadline")
	}()
	addrs := []string{os.Args[2]}
	topic := os.Args[3]
	switch os.Args[1] {
	case "produce":
		n, _ := strconv.Atoi(os.Args[4])
		c := config()
		switch os.Args[5] {
		case "gzip":
			c.Producer.Compression = sarama.CompressionGZIP
		case "snappy":
			c.Producer.Compression = sarama.CompressionSnappy
		case "lz4":
			c.Producer.Compression = sarama.CompressionLZ4
		case "zstd":
			c.Producer.Compression = sarama.CompressionZSTD
		}
		p, err := sarama.NewSyncProducer(addrs, c)
		if err != nil {
			die("producer: %v", err)
		}
		ms := make([]*sarama.ProducerMessage, n)
		for i := range ms {
			ms[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(fmt.Sprintf("s%d", i)),
				Value:   sarama.StringEncoder(fmt.Sprintf("sv%d", i)),
				Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(fmt.Sprintf("x%d", i))}}}
		}
		if err := p.SendMessages(ms); err != nil {
			if pe, ok := err.(sarama.ProducerErrors); ok && len(pe) > 0 {
				die("send: %v (first: %v)", err, pe[0].Err)
			}
			die("send: %v", err)
		}
		p.Close()
		fmt.Printf("{\"written\":%d,\"first\":%d}\n", n, ms[0].Offset)
	case "consume":
		n, _ := strconv.Atoi(os.Args[4])
		cons, err := sarama.NewConsumer(addrs, config())
		if err != nil {
			die("consumer: %v", err)
		}
		pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			die("partition: %v", err)
		}
		for i := 0; i < n; i++ {
			select {
			case m := <-pc.Messages():
				emit(m)
			case err := <-pc.Errors():
				die("consume: %v", err)
			}
		}
		pc.Close()
		cons.Close()
	case "group":
		n, _ := strconv.Atoi(os.Args[5])
		g, err := sarama.NewConsumerGroup(addrs, os.Args[4], config())
		if err != nil {
			die("group: %v", err)
		}
		go func() {
			for err := range g.Errors() {
				fmt.Fprintf(os.Stderr, "saramacli: group error: %v\n", err)
			}
		}()
		h := &handler{left: n, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, h); err != nil {
					die("consume: %v", err)
				}
			}
		}()
		<-h.done
		cancel()
		if err := g.Close(); err != nil {
			die("close: %v", err)
		}
	case "offsets":
		group := os.Args[4]
		off, _ := strconv.ParseInt(os.Args[5], 10, 64)
		client, err := sarama.NewClient(addrs, config())
		if err != nil {
			die("client: %v", err)
		}
		om, err := sarama.NewOffsetManagerFromClient(group, client)
		if err != nil {
			die("offset manager: %v", err)
		}
		pom, err := om.ManagePartition(topic, 0)
		if err != nil {
			die("manage: %v", err)
		}
		before, _ := pom.NextOffset()
		pom.MarkOffset(off, "meta")
		pom.Close()
		om.Close()
		om2, _ := sarama.NewOffsetManagerFromClient(group, client)
		pom2, err := om2.ManagePartition(topic, 0)
		if err != nil {
			die("manage again: %v", err)
		}
		after, meta := pom2.NextOffset()
		pom2.Close()
		om2.Close()
		client.Close()
		fmt.Printf("{\"before\":%d,\"after\":%d,\"metadata\":%q}\n", before, after, meta)
	case "admin":
		a, err := sarama.NewClusterAdmin(addrs, config())
		if err != nil {
			die("admin: %v", err)
		}
		ret := "3600000"
		if err := a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
			ConfigEntries: map[string]*string{"retention.ms": &ret}}, false); err != nil {
			die("create: %v", err)
		}
		seg, pol := "7200000", "compact"
		if err := a.AlterConfig(sarama.TopicResource, topic, map[string]*string{"segment.ms": &seg,
			"cleanup.policy": &pol}, false); err != nil {
			die("alter: %v", err)
		}
		entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		if err != nil {
			die("describe: %v", err)
		}
		// sarama asks with DescribeConfigs v0: non-default values
		over := map[string]string{}
		for _, e := range entries {
			if !e.Default {
				over[e.Name] = e.Value
			}
		}
		brokers, _, err := a.DescribeCluster()
		if err != nil {
			die("cluster: %v", err)
		}
		b, _ := json.Marshal(map[string]interface{}{"overrides": over, "brokers": len(brokers)})
		fmt.Println(string(b))
		if err := a.DeleteTopic(topic); err != nil {
			die("delete: %v", err)
		}
		a.Close()
	default:
		die("unknown command %s", os.Args[1])
	}
}
