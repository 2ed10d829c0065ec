print("qat")
