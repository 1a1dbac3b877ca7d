import NIOCore

/// State owned by one event loop: the current snapshot and credentials, the upstream
/// connection pool, request-id generation and a cheap random source.
///
/// Every connection is served on one loop, and its upstream connections are opened on the
/// same loop, so none of this needs a lock: it is only ever touched from `eventLoop`.
/// Updates from elsewhere go through `eventLoop.execute`.
final class LoopContext: @unchecked Sendable {
    let eventLoop: any EventLoop
    let pool: UpstreamPool
    private(set) var snapshot: RuntimeSnapshot
    private(set) var credentials: CredentialSet
    private var random: SplitMix64
    private var requestCounter: UInt64 = 0
    private let idPrefix: String
    let clock: WallClockCache
    let local = LoopLocalStorage()
    /// The process-wide budget for request bodies and held answers (shared by every loop).
    let memory: MemoryBudget

    init(eventLoop: any EventLoop, snapshot: RuntimeSnapshot, credentials: CredentialSet, pool: UpstreamPool, memory: MemoryBudget = MemoryBudget()) {
        self.memory = memory
        self.eventLoop = eventLoop
        self.snapshot = snapshot
        self.credentials = credentials
        self.pool = pool
        var seed = SystemRandomNumberGenerator()
        self.random = SplitMix64(seed: seed.next())
        self.idPrefix = String(UInt32.random(in: .min ... .max), radix: 16).leftPadded(to: 8)
        self.clock = WallClockCache()
    }

    /// Client connections open on this loop, so a drain that runs out of time can close them.
    private var clientChannels: [ObjectIdentifier: any Channel] = [:]

    /// Remembers a client connection until it closes (call on the loop).
    func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        clientChannels[id] = channel
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        channel.closeFuture.whenComplete { _ in bound.value.clientChannels[id] = nil }
    }

    /// Closes every client connection still open (call on the loop): their calls end as
    /// `client_closed` and are logged before this returns.
    func closeClientChannels() {
        for channel in clientChannels.values { channel.close(promise: nil) }
    }

    /// Swaps in a new snapshot and its credentials together, on this loop.
    func apply(snapshot: RuntimeSnapshot, credentials: CredentialSet) {
        eventLoop.preconditionInEventLoop()
        self.snapshot = snapshot
        self.credentials = credentials
    }

    /// Swaps in new credentials.
    func update(credentials: CredentialSet) {
        eventLoop.execute { self.credentials = credentials }
    }

    /// A process-unique request id: a per-loop random prefix and a counter.
    func nextRequestID() -> String {
        requestCounter &+= 1
        let counter = requestCounter
        let prefix = idPrefix
        // One allocation: the 8-digit prefix, then the counter's low 32 bits in hex.
        return String(unsafeUninitializedCapacity: 16) { out in
            var index = 0
            for byte in prefix.utf8.prefix(8) { out[index] = byte; index += 1 }
            HexDigits.write(counter, digits: 16 - index, into: out, at: index)
            return 16
        }
    }

    /// A uniform random integer in `0..<bound`.
    func randomInt(below bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        return Int(random.next() % UInt64(bound))
    }

    /// Random bits for trace and span ids.
    func randomUInt64() -> UInt64 { random.next() }
}

/// A small, fast pseudo-random generator; seeded once per loop from the system generator.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
