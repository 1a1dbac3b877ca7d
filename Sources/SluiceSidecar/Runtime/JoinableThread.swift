import Atomics

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain POSIX thread running one closure, which its owner can join: when `join()`
/// returns the thread has exited. For the few background writers that must not run on
/// event loops (the access log, the memory reclaimer).
final class JoinableThread: @unchecked Sendable {
    private let handle: pthread_t?
    private let joined = ManagedAtomic<Bool>(false)
    private let threadID: ManagedAtomic<Int32>

    /// The kernel's id for the thread once it runs (Linux; 0 before, or elsewhere): its
    /// entry `/proc/self/task/<id>` is gone once the thread has exited.
    var kernelThreadID: Int32 { threadID.load(ordering: .acquiring) }

    /// Starts `body` on a new thread named `name` (at most 15 bytes kept); nil when the
    /// system refuses a thread.
    init?(name: String, _ body: @escaping @Sendable () -> Void) {
        final class Box {
            let name: String
            let threadID: ManagedAtomic<Int32>
            let body: @Sendable () -> Void
            init(name: String, threadID: ManagedAtomic<Int32>, _ body: @escaping @Sendable () -> Void) {
                self.name = name
                self.threadID = threadID
                self.body = body
            }
            func run() {
                #if canImport(Glibc)
                threadID.store(GlibcExtras.currentThreadID(), ordering: .releasing)
                GlibcExtras.nameCurrentThread(name)
                #endif
                body()
            }
        }
        let threadID = ManagedAtomic<Int32>(0)
        self.threadID = threadID
        let box = Unmanaged.passRetained(Box(name: name, threadID: threadID, body)).toOpaque()
        #if canImport(Darwin)
        var thread: pthread_t?
        #else
        var thread = pthread_t()
        #endif
        let result = pthread_create(&thread, nil, { argument in
            #if canImport(Darwin)
            Unmanaged<Box>.fromOpaque(argument).takeRetainedValue().run()
            #else
            if let argument { Unmanaged<Box>.fromOpaque(argument).takeRetainedValue().run() }
            #endif
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        handle = thread
    }

    /// Waits for the thread to exit. Only the first call joins; never call it from the
    /// thread itself.
    func join() {
        guard !joined.exchange(true, ordering: .acquiringAndReleasing), let handle else { return }
        pthread_join(handle, nil)
    }
}
