import XCTest
@testable import CamkitCore

/// The manifest set (fixtures `manifests/`): the valid ones read back, each broken one refused;
/// .npz reading, sha256 of files and folders, backends (the Kotlin core's ManifestTest).
final class ManifestTests: XCTestCase {
    func testEveryManifest() throws {
        let expected = try XCTUnwrap(Fixtures.json("manifests/expected.json")["manifests"] as? [String: [String: Any]])
        XCTAssertEqual(expected.count, 9)
        for (name, want) in expected.sorted(by: { $0.key < $1.key }) {
            let file = try Fixtures.file("manifests/\(name)")
            if want["ok"] as! Bool {
                let m = try Manifest.read(file)
                XCTAssertEqual(m.modelId, want["model_id"] as? String, name)
                XCTAssertEqual(m.variant, want["variant"] as? String, name)
                XCTAssertEqual(m.format, want["format"] as? String, name)
                XCTAssertEqual(m.precision, want["precision"] as? String, name)
                XCTAssertEqual(m.artifactFile, want["artifact"] as? String, name)
                XCTAssertEqual(m.sampleFile, want["sample"] as? String, name)
                XCTAssertEqual(m.inputs.map(\.name), want["inputs"] as? [String], name)
                XCTAssertEqual(m.outputs.map(\.name), want["outputs"] as? [String], name)
                XCTAssertTrue(m.inputs.allSatisfy { $0.layout == want["layout"] as? String && $0.dtype == want["dtype"] as? String }, name)
                XCTAssertEqual(m.fullResolution?.strategy, "tiles", name)
                XCTAssertEqual(m.psnrBudgetDb, want["psnr_budget_db"] as? Double, name)  // JSON null: nil
                XCTAssertTrue(FileManager.default.fileExists(atPath: m.artifact().path), name)
                let arrays = try Npz.read(try XCTUnwrap(m.sample()))  // np.savez_compressed: deflated, zip64
                for (key, digest) in want["arrays"] as! [String: [String: Any]] {
                    let t = try Fixtures.tensor(arrays, key)
                    XCTAssertEqual(t.shape, digest["shape"] as? [Int], "\(name) \(key)")
                    XCTAssertEqual(Sha256.of(bytes: littleEndian(t.floats!)), digest["sha256"] as? String, "\(name) \(key)")
                }
            } else {
                XCTAssertThrowsError(try Manifest.read(file), name) { error in
                    let message = (error as? CamkitError)?.message ?? "\(error)"
                    XCTAssertFalse(message.contains("\n"), "one line: \(message)")
                    for word in want["message_has"] as! [String] {
                        XCTAssertTrue(message.contains(word), "'\(want["problem"]!)' refusal names '\(word)': \(message)")
                    }
                }
            }
        }
    }

    private func littleEndian(_ floats: [Float]) -> [UInt8] {
        floats.flatMap { f -> [UInt8] in
            let bits = f.bitPattern
            return [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
        }
    }

    func testWithoutVerificationABadSha256Reads() throws {
        let m = try Manifest.read(Fixtures.file("manifests/broken-sha256.manifest.json"), verifySha256: false)
        XCTAssertEqual(m.artifactSha256, String(repeating: "0", count: 64))
        XCTAssertNil(m.featuresArtifact)
    }

    /// An .npy of `descr` and `shape` holding `data`, as numpy writes version 1.0.
    private func npy(_ descr: String, _ shape: String, _ data: [UInt8]) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let n = header.utf8.count
        var out: [UInt8] = [0x93]
        out += Array("NUMPY".utf8)
        out += [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)]
        out += Array(header.utf8)
        out += data
        return out
    }

    /// A zip of stored entries (what `np.savez` writes), built by hand.
    private func storedZip(_ entries: [(String, [UInt8])]) -> [UInt8] {
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
        var out: [UInt8] = []
        var central: [UInt8] = []
        for (name, data) in entries {
            let offset = UInt32(out.count)
            var fields: [UInt8] = le16(0)  // flags
            fields += le16(0)  // method: stored
            fields += le32(0)  // time and date
            fields += le32(Crc32.of(data))
            fields += le32(UInt32(data.count))
            fields += le32(UInt32(data.count))
            fields += le16(name.utf8.count)
            fields += le16(0)  // extra length
            out += le32(0x0403_4B50)
            out += le16(20)
            out += fields
            out += Array(name.utf8)
            out += data
            central += le32(0x0201_4B50)
            central += le16(20)
            central += le16(20)
            central += fields
            central += le16(0)  // comment length
            central += le16(0)  // disk
            central += le16(0)  // internal attributes
            central += le32(0)  // external attributes
            central += le32(offset)
            central += Array(name.utf8)
        }
        let start = UInt32(out.count)
        out += central
        out += le32(0x0605_4B50)
        out += le16(0)
        out += le16(0)
        out += le16(entries.count)
        out += le16(entries.count)
        out += le32(UInt32(central.count))
        out += le32(start)
        out += le16(0)
        return out
    }

    func testNpzStoredAndRefusals() throws {
        let zip = storedZip([("a/b.npy", npy("|u1", "(2, 3)", [1, 2, 3, 4, 5, 255]))])
        let t = try Fixtures.tensor(Npz.read(bytes: zip), "a/b")
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.raw(5), 255)
        XCTAssertThrowsError(try Npz.readNpy(npy("<f8", "(1,)", [UInt8](repeating: 0, count: 8)), where: "x.npy")) {
            XCTAssertTrue(($0 as? CamkitError)?.message.contains("'<f8'") == true, "\($0)")
        }
        XCTAssertThrowsError(try Npz.read(bytes: Array("not a zip".utf8)))
        var damaged = zip
        damaged[40] ^= 0xFF  // inside the .npy's bytes: the CRC no longer matches
        XCTAssertThrowsError(try Npz.read(bytes: damaged))
    }

    func testInflateAgainstTheSample() throws {
        // the fixture sample is np.savez_compressed: every entry deflated
        let arrays = try Npz.read(Fixtures.file("manifests/toy-tiny-fp32.onnx.sample.npz"))
        XCTAssertEqual(Set(arrays.keys), ["in/image", "out/output"])
        XCTAssertEqual(try Inflate.inflate([0x03, 0x00]), [])  // an empty fixed block
        XCTAssertEqual(try Inflate.inflate([0x01, 0x03, 0x00, 0xFC, 0xFF, 0x61, 0x62, 0x63]), Array("abc".utf8))  // stored
    }

    func testSha256() throws {
        XCTAssertEqual(Sha256.of(bytes: Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Sha256.of(bytes: [UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        var split = Sha256Hasher()  // the same bytes fed in uneven pieces
        for piece in [0, 1, 63, 64, 65, 200] { split.update([UInt8](repeating: 0x61, count: piece)) }
        let digest = split.finalize()
        XCTAssertEqual(Sha256.hex(digest), Sha256.of(bytes: [UInt8](repeating: 0x61, count: 393)))
    }

    /// A folder (an .mlpackage) hashes as toolkit/artifacts.py `sha256_path` does: files sorted
    /// by path components ("Data/..." before "Data-extra"), hidden files included, empty folders
    /// not (the expected digest is Python's, for this very tree).
    func testSha256OfAFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-\(UUID().uuidString)/x.mlpackage")
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        let files: [(String, [UInt8])] = [
            ("Manifest.json", Array("m".utf8)), ("Data/com.apple.CoreML/model.mlmodel", Array("model".utf8)),
            ("Data/com.apple.CoreML/weights/weight.bin", (0..<256).map { UInt8($0) }), ("Data-extra", Array("x".utf8)),
            (".hidden", Array("h".utf8)),
        ]
        for (rel, bytes) in files {
            let url = root.appendingPathComponent(rel)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        XCTAssertEqual(try Sha256.of(root), "6036cb310bdfe40f52b16c084f33a6c0dff0deee0ce976b91f274f3d5b51965c")
        XCTAssertEqual(try Sha256.of(root.appendingPathComponent("Data-extra")), Sha256.of(bytes: Array("x".utf8)))
    }

    func testBackends() throws {
        XCTAssertEqual(try Backend.of("coreml-ane"), .coremlAne)
        XCTAssertEqual(Backend.coremlAne.computeUnits, "cpuAndNeuralEngine")
        XCTAssertEqual(Backend.allCases.map(\.accelerator), [nil, "cpu", "gpu", "npu"])
        XCTAssertNil(Backend.coremlGpu.delegate)
        XCTAssertEqual(Backend.forFormat("onnx"), [])
        XCTAssertThrowsError(try Backend.of("tpu")) { error in
            let message = (error as? CamkitError)?.message ?? ""
            XCTAssertTrue(Backend.allCases.allSatisfy { message.contains($0.id) }, message)
        }
    }
}
