// QATTokenizer
