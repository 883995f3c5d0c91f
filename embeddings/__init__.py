"""The encoder (sentence-transformers) and the FAISS index: build, save, load, swap; and the retriever."""
