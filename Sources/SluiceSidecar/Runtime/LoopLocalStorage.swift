/// Per-event-loop scratch space for stages: caches that would otherwise need a lock.
///
/// Each loop owns one; a stage reaches it through ``Call/loopLocal`` and keys its state by
/// a type of its own. Only ever touched on its loop.
public final class LoopLocalStorage {
    private var values: [ObjectIdentifier: AnyObject] = [:]

    init() {}

    /// The value stored under `key`, created with `make` on first use.
    public func value<Value: AnyObject>(for key: Value.Type, make: () -> Value) -> Value {
        if let existing = values[ObjectIdentifier(key)] as? Value { return existing }
        let created = make()
        values[ObjectIdentifier(key)] = created
        return created
    }
}
