package bus

// The pure-Go backend lands with the 32-bit ARM work; until then it is
// absent from every build.
const franzBuilt = false

func errFranz() error { return ErrNoBackend }

func newFranzProducer(ProducerConfig, options) (Producer, error) { return nil, errFranz() }
func newFranzConsumer(ConsumerConfig, options) (Consumer, error) { return nil, errFranz() }
func newFranzAdmin(Config, options) (Admin, error)               { return nil, errFranz() }
