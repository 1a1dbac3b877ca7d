// Typed reads of request fields: absent or null reads as nil, a wrong type is a
// TranslationError naming the field.

/// A request object being read, with its path for error messages (`messages[2]`).
struct Fields {
    let object: JSONObject
    let path: String

    init(_ object: JSONObject, path: String = "") {
        self.object = object
        self.path = path
    }

    /// The dotted name of `key` under this object.
    func param(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func wrongType(_ key: String, _ expected: String) -> TranslationError {
        TranslationError(message: "`\(param(key))` must be \(expected).", param: param(key))
    }

    /// The member's value unless it is absent or null.
    func value(_ key: String) -> JSON? {
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws(TranslationError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.stringValue else { throw wrongType(key, "a string") }
        return text
    }

    func requiredString(_ key: String) throws(TranslationError) -> String {
        guard let text = try string(key) else {
            throw TranslationError(message: "`\(param(key))` is required.", param: param(key))
        }
        return text
    }

    func int(_ key: String) throws(TranslationError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.intValue else { throw wrongType(key, "an integer") }
        return number
    }

    func double(_ key: String) throws(TranslationError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.doubleValue else { throw wrongType(key, "a number") }
        return number
    }

    /// The number as written (for passing through without reformatting).
    func number(_ key: String) throws(TranslationError) -> JSON? {
        guard let value = value(key) else { return nil }
        guard value.doubleValue != nil else { throw wrongType(key, "a number") }
        return value
    }

    func bool(_ key: String) throws(TranslationError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value.boolValue else { throw wrongType(key, "a boolean") }
        return flag
    }

    func array(_ key: String) throws(TranslationError) -> [JSON]? {
        guard let value = value(key) else { return nil }
        guard let elements = value.arrayValue else { throw wrongType(key, "an array") }
        return elements
    }

    func object(_ key: String) throws(TranslationError) -> JSONObject? {
        guard let value = value(key) else { return nil }
        guard let member = value.objectValue else { throw wrongType(key, "an object") }
        return member
    }

    /// The elements of array `key` as objects, each with its path.
    func objects(_ key: String) throws(TranslationError) -> [Fields]? {
        guard let elements = try array(key) else { return nil }
        var out: [Fields] = []
        for (index, element) in elements.enumerated() {
            let elementPath = "\(param(key))[\(index)]"
            guard let member = element.objectValue else {
                throw TranslationError(message: "`\(elementPath)` must be an object.", param: elementPath)
            }
            out.append(Fields(member, path: elementPath))
        }
        return out
    }

    /// An error for a field whose value the other vendor cannot express.
    func unsupported(_ key: String, _ why: String) -> TranslationError {
        TranslationError(message: "`\(param(key))` \(why)", param: param(key))
    }
}
