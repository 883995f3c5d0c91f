"""Retrieval: the encoder and its fine-tuning, the FAISS index, lexical search (BM25), query
analysis (typos, unknown words), and the retriever that ranks and decides."""
