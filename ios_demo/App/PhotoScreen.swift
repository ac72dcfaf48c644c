// SwiftUI (iOS 17 SDK): PhotosPicker and PhotosPickerItem.loadTransferable(type:) (PhotosUI, iOS
// 16), onChange(of:_:) with two values (iOS 17), sheet, GeometryReader, DragGesture,
// mask(alignment:_:) (iOS 15). SwiftUI's Image is written SwiftUI.Image: CamkitCore has an Image.
import CamkitCore
import PhotosUI
import SwiftUI

/// Pick or shoot a photo, run it through the chosen artifact at full resolution (CamkitCore's
/// ``FullResolution``: tiles, blend, thumbnails or statistics by the manifest's plan), and
/// compare before and after with a slider.
struct PhotoScreen: View {
    @State private var selection: String?
    @State private var backend: Backend = .coremlAll
    @State private var pickerItem: PhotosPickerItem?
    @State private var showCamera = false
    @State private var photo: CamkitCore.Image?
    @State private var before: UIImage?
    @State private var after: UIImage?
    @State private var progress: Double?
    @State private var message: String?
    @State private var actualPixels = false
    @State private var split: CGFloat = 0.5
    @EnvironmentObject private var store: ModelStore
    @Environment(\.displayScale) private var displayScale

    var body: some View {
        NavigationStack {
            ScrollView {
                VStack(alignment: .leading, spacing: 14) {
                    ManifestPicker(selection: $selection)
                    BackendPicker(backend: $backend)
                    HStack(spacing: 20) {
                        PhotosPicker(selection: $pickerItem, matching: .images) {
                            Label("Pick a photo", systemImage: "photo.on.rectangle")
                        }
                        if CameraPicker.isAvailable {
                            Button { showCamera = true } label: { Label("Shoot", systemImage: "camera") }
                        }
                    }
                    Button("Run at full resolution") { Task { await run() } }
                        .buttonStyle(.borderedProminent)
                        .disabled(photo == nil || selection == nil || progress != nil)
                    if let progress { ProgressView(value: progress) }
                    if let message { Text(message).font(.footnote).foregroundStyle(.secondary) }
                    comparison
                }
                .padding()
            }
            .navigationTitle("Photo")
        }
        .onChange(of: pickerItem) { _, item in
            Task { await load(item) }
        }
        .sheet(isPresented: $showCamera) {
            CameraPicker { image in
                showCamera = false
                if let image { take(image) }
            }
            .ignoresSafeArea()
        }
    }

    @ViewBuilder private var comparison: some View {
        if let before, let after {
            Toggle("1:1 pixels", isOn: $actualPixels)
            if actualPixels {
                Slider(value: $split, in: 0...1) { Text("before / after") }
                ScrollView([.horizontal, .vertical]) {
                    BeforeAfterSlider(before: before, after: after, split: $split, draggable: false)
                        .frame(width: before.size.width * before.scale / displayScale,
                               height: before.size.height * before.scale / displayScale)
                }
                .frame(height: 480)
            } else {
                BeforeAfterSlider(before: before, after: after, split: $split, draggable: true)
            }
        } else if let before {
            SwiftUI.Image(uiImage: before).resizable().scaledToFit()
        }
    }

    private func load(_ item: PhotosPickerItem?) async {
        guard let item else { return }
        do {
            guard let data = try await item.loadTransferable(type: Data.self), let image = UIImage(data: data) else {
                message = "the picked item is not a photo the app can decode"
                return
            }
            take(image)
        } catch {
            message = "cannot load the photo: \(error.localizedDescription)"
        }
    }

    /// Decodes `image` to full-resolution pixels off the main actor.
    private func take(_ image: UIImage) {
        after = nil
        message = "decoding the photo"
        Task {
            do {
                let pixels = try await Task.detached(priority: .userInitiated) { try ImageConversion.pixels(image) }.value
                photo = pixels
                before = ImageConversion.uiImage(pixels)
                message = "\(pixels.width) x \(pixels.height) px"
            } catch {
                message = error.localizedDescription
            }
        }
    }

    private func run() async {
        guard let photo, let name = selection, let entry = store.manifests.first(where: { $0.name == name }) else { return }
        let (file, backend) = (entry.file, self.backend)
        progress = 0
        message = "checking \(name) and loading it on \(backend.computeUnits)"
        let started = Date()
        do {
            let result = try await Task.detached(priority: .userInitiated) { () -> CamkitCore.Image in
                let manifest = try Manifest.read(file)  // every sha256 checked before anything is compiled
                let factory = try CoreMLRunnerFactory(compileFresh: false)
                let runner = try await factory.load(manifest.artifact(), manifest: manifest, backend: backend, strict: false)
                defer { runner.close() }
                var features: ModelRunner?
                if let url = manifest.features() {
                    features = try await factory.load(url, manifest: manifest, backend: backend, strict: false)
                }
                defer { features?.close() }
                return try await FullResolution(manifest).process(photo, runner: runner, features: features) { done, total in
                    Task { @MainActor in progress = Double(done) / Double(total) }
                }
            }.value
            after = ImageConversion.uiImage(result)
            message = String(format: "%d x %d px through %@ in %.1f s", result.width, result.height, name,
                             Date().timeIntervalSince(started))
        } catch {
            message = error.localizedDescription
        }
        progress = nil
    }
}

/// The photo before and after, split where the divider is: before on the left, after on the right.
struct BeforeAfterSlider: View {
    let before: UIImage
    let after: UIImage
    @Binding var split: CGFloat
    let draggable: Bool

    var body: some View {
        SwiftUI.Image(uiImage: before)
            .resizable()
            .scaledToFit()
            .overlay {
                GeometryReader { geometry in
                    let width = geometry.size.width
                    ZStack(alignment: .leading) {
                        SwiftUI.Image(uiImage: after)
                            .resizable()
                            .scaledToFit()
                            .mask(alignment: .trailing) { Rectangle().frame(width: width * (1 - split)) }
                        Rectangle()
                            .fill(Color.white)
                            .frame(width: 2)
                            .shadow(radius: 2)
                            .offset(x: width * split - 1)
                    }
                    .contentShape(Rectangle())
                    .gesture(DragGesture(minimumDistance: 0).onChanged { value in
                        if draggable && width > 0 { split = min(max(value.location.x / width, 0), 1) }
                    })
                }
            }
            .overlay(alignment: .top) {
                HStack {
                    Text("before")
                    Spacer()
                    Text("after")
                }
                .font(.caption.bold())
                .foregroundStyle(.white)
                .shadow(radius: 2)
                .padding(6)
            }
    }
}

/// The Core ML manifests of the store, by file name.
struct ManifestPicker: View {
    @Binding var selection: String?
    @EnvironmentObject private var store: ModelStore

    var body: some View {
        Picker("Model", selection: $selection) {
            Text("Choose a manifest").tag(String?.none)
            ForEach(store.manifests.filter { $0.manifest != nil }) { entry in
                Text(entry.name).tag(String?.some(entry.name))
            }
        }
    }
}

/// Core ML's compute units, by backend id.
struct BackendPicker: View {
    @Binding var backend: Backend

    var body: some View {
        Picker("Compute units", selection: $backend) {
            ForEach(Backend.allCases, id: \.self) { b in
                Text("\(b.id) (\(b.computeUnits))").tag(b)
            }
        }
    }
}
